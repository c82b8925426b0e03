namespace SharpProxy.Xds.Translation;

/// <summary>Collects every translation error with the config path it belongs to; translation never stops at the first.</summary>
internal sealed class TranslationErrors
{
    private readonly List<string> _errors = [];

    public IReadOnlyList<string> All => _errors;

    public bool Any => _errors.Count > 0;

    /// <summary>
    /// Where an HTTP connection manager's <c>rds</c> finds its route configuration: the xDS client's accepted routes.
    /// Null when translating a bootstrap without ADS, where <c>rds</c> cannot be honoured. (It travels with the errors
    /// because every translator already receives them.)
    /// </summary>
    public IRouteConfigSource? Routes { get; init; }

    /// <summary>
    /// Translating resources a control plane sent (not the bootstrap file): span-only settings we cannot honour are then
    /// left out rather than refused, as istiod sends them to every sidecar (a static config still gets the error).
    /// </summary>
    public bool FromControlPlane { get; init; }

    /// <summary>
    /// Where an SdsSecretConfig finds its secret by name: the bootstrap's static_resources.secrets (and, over ADS, the
    /// secrets received). Null when there is none.
    /// </summary>
    public ISecretSource? Secrets { get; set; }

    public void Add(string path, string message) => _errors.Add(path + ": " + message);

    /// <summary>Adds an error already formatted as "path: message".</summary>
    public void Add(string formatted) => _errors.Add(formatted);

    /// <summary>A field present in our descriptors whose behaviour is not implemented yet: refusing it beats ignoring it.</summary>
    public void NotYetSupported(string path, string what) =>
        _errors.Add(path + ": " + what + " is not supported yet by SharpProxy");
}

/// <summary>Route configurations by name, for listeners whose HTTP connection manager uses <c>rds</c>.</summary>
internal interface IRouteConfigSource
{
    /// <summary>The named route configuration, or null while it has not arrived (the listener is then warming).</summary>
    Core.Configuration.RouteTableConfig? Find(string name);
}

/// <summary>TLS secrets by name, for SdsSecretConfig references.</summary>
internal interface ISecretSource
{
    /// <summary>The named secret, or null when it is unknown (or has not arrived yet).</summary>
    Api.Extensions.TransportSockets.Tls.V3.Secret? Find(string name);
}

/// <summary>A secret source that also serves SDS over ADS (sds_config: ads).</summary>
internal interface IDynamicSecretSource : ISecretSource
{
    /// <summary>How many SDS lookups found nothing yet (the resource using them is then warming, not wrong).</summary>
    int Missing { get; }

    /// <summary>The named SDS secret received over ADS, or null while it has not arrived (the name is subscribed).</summary>
    Api.Extensions.TransportSockets.Tls.V3.Secret? FindDynamic(string name);
}
