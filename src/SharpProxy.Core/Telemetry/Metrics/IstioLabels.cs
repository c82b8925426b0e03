using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// Which side of the call this proxy reports, as Istio's stats filter decides it from the listener's traffic_direction:
/// INBOUND is the server sidecar (reporter="destination"); OUTBOUND and UNSPECIFIED (gateways) are the client
/// (reporter="source").
/// </summary>
internal enum IstioReporter
{
    Source,
    Destination,
}

/// <summary>The local workload, from the bootstrap node metadata that istiod / pilot-agent write.</summary>
internal sealed record IstioWorkload
{
    public static readonly IstioWorkload Empty = new();

    public string WorkloadName { get; init; } = "";

    public string Namespace { get; init; } = "";

    public string CanonicalName { get; init; } = "";

    public string CanonicalRevision { get; init; } = "";

    public string AppName { get; init; } = "";

    public string AppVersion { get; init; } = "";

    public string ClusterId { get; init; } = "";

    /// <summary>ISTIO_VERSION, reported by the istio_build gauge.</summary>
    public string IstioVersion { get; init; } = "";

    /// <summary>
    /// Reads WORKLOAD_NAME, NAMESPACE, CLUSTER_ID and LABELS {app, version, service.istio.io/canonical-name, -revision}.
    /// Missing keys stay empty, as in Istio (its local labels are the raw metadata strings, not "unknown").
    /// </summary>
    public static IstioWorkload FromNodeMetadata(ImmutableDictionary<string, string> metadata)
    {
        var labels = ParseLabels(metadata.GetValueOrDefault("LABELS"));
        return new IstioWorkload
        {
            WorkloadName = metadata.GetValueOrDefault("WORKLOAD_NAME") ?? "",
            Namespace = metadata.GetValueOrDefault("NAMESPACE") ?? "",
            ClusterId = metadata.GetValueOrDefault("CLUSTER_ID") ?? "",
            IstioVersion = metadata.GetValueOrDefault("ISTIO_VERSION") ?? "",
            AppName = labels.GetValueOrDefault("app") ?? "",
            AppVersion = labels.GetValueOrDefault("version") ?? "",
            CanonicalName = labels.GetValueOrDefault("service.istio.io/canonical-name") ?? "",
            CanonicalRevision = labels.GetValueOrDefault("service.istio.io/canonical-revision") ?? "",
        };
    }

    private static Dictionary<string, string> ParseLabels(string? json)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return labels;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return labels;
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.String)
                {
                    labels[property.Name] = property.Value.GetString() ?? "";
                }
            }
        }
        catch (JsonException)
        {
            // LABELS that is not a JSON object carries no labels.
        }

        return labels;
    }
}

/// <summary>
/// The upstream workload as istiod encodes it in endpoint metadata <c>istio.workload</c>:
/// "workload;namespace;canonical-service;canonical-revision;cluster-id" (fewer than five parts: not usable).
/// The encoding carries no app or version.
/// </summary>
internal sealed record IstioPeer(string WorkloadName, string Namespace, string CanonicalName, string CanonicalRevision, string ClusterId)
{
    public static IstioPeer? FromEndpointMetadata(MetadataConfig metadata)
    {
        var encoded = metadata.Get("istio", "workload");
        if (encoded is null)
        {
            return null;
        }

        var parts = encoded.Split(';');
        return parts.Length < 5 ? null : new IstioPeer(parts[0], parts[1], parts[2], parts[3], parts[4]);
    }
}

/// <summary>
/// The destination service of a cluster. Istio reads it from cluster metadata <c>istio.services[0]</c> {host, name,
/// namespace}; without that we fall back to the cluster name when it has Istio's form <c>outbound|port|subset|host</c>.
/// </summary>
internal sealed record IstioService(string Host, string Name, string Namespace)
{
    /// <summary>Clusters whose own name is what Istio reports as destination_service_name.</summary>
    private static readonly ImmutableHashSet<string> PassthroughClusters = ImmutableHashSet.Create(
        StringComparer.Ordinal,
        "BlackHoleCluster",
        "PassthroughCluster",
        "InboundPassthroughCluster",
        "InboundPassthroughClusterIpv4",
        "InboundPassthroughClusterIpv6");

    public static IstioService? FromCluster(ClusterConfig cluster)
    {
        if (PassthroughClusters.Contains(cluster.Name))
        {
            return new IstioService("", cluster.Name, "");
        }

        if (FromServicesMetadata(cluster.Metadata.Get("istio", "services")) is { } fromMetadata)
        {
            return fromMetadata;
        }

        return FromClusterName(cluster.Name);
    }

    /// <summary>
    /// Istio's cluster names: <c>outbound|80|v1|reviews.default.svc.cluster.local</c>, <c>inbound|8080||</c>,
    /// <c>outbound_.80_._.reviews.default.svc.cluster.local</c> (the SNI-style form). Null for other names or an empty host.
    /// </summary>
    public static IstioService? FromClusterName(string clusterName)
    {
        string host;
        var parts = clusterName.Split('|');
        if (parts.Length == 4 && parts[0] is "outbound" or "inbound")
        {
            host = parts[3];
        }
        else if (clusterName.StartsWith("outbound_.", StringComparison.Ordinal) || clusterName.StartsWith("inbound_.", StringComparison.Ordinal))
        {
            // direction_.port_.subset_.host: the host follows the third "_." separator.
            var index = -1;
            for (var i = 0; i < 3; i++)
            {
                index = clusterName.IndexOf("_.", index + 1, StringComparison.Ordinal);
                if (index < 0)
                {
                    return null;
                }
            }

            host = clusterName[(index + 2)..];
        }
        else
        {
            return null;
        }

        return host.Length == 0 ? null : FromHost(host, name: null, ns: null);
    }

    /// <summary>name and namespace from a Kubernetes service host <c>name.namespace.svc.domain</c> when not given.</summary>
    public static IstioService FromHost(string host, string? name, string? ns)
    {
        var labels = host.Split('.');
        name ??= labels[0];
        if (ns is null)
        {
            ns = labels.Length >= 3 && labels[2] == "svc" ? labels[1] : "";
        }

        return new IstioService(host, name, ns);
    }

    private static IstioService? FromServicesMetadata(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Array || document.RootElement.GetArrayLength() == 0)
            {
                return null;
            }

            var first = document.RootElement[0];
            if (first.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var host = StringProperty(first, "host") ?? "";
            if (host.Length == 0)
            {
                return null;
            }

            return FromHost(host, StringProperty(first, "name"), StringProperty(first, "namespace"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? StringProperty(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>
/// The 20 workload labels plus reporter and connection_security_policy of one (reporter, cluster, endpoint) combination,
/// with their Prometheus text rendered once. Interned by value (<see cref="IstioLabelResolver"/>), so two clusters or
/// hosts that resolve to the same labels share one instance and one set of series.
/// </summary>
internal sealed class IstioLabelSet
{
    /// <summary>Label names in the order Istio's stats filter adds them (tags before request_protocol).</summary>
    public static readonly ImmutableArray<string> WorkloadLabelNames =
    [
        "reporter",
        "source_workload",
        "source_canonical_service",
        "source_canonical_revision",
        "source_workload_namespace",
        "source_principal",
        "source_app",
        "source_version",
        "source_cluster",
        "destination_workload",
        "destination_workload_namespace",
        "destination_principal",
        "destination_app",
        "destination_version",
        "destination_service",
        "destination_canonical_service",
        "destination_canonical_revision",
        "destination_service_name",
        "destination_service_namespace",
        "destination_cluster",
    ];

    public IstioLabelSet(ImmutableArray<string> values, string connectionSecurityPolicy)
    {
        if (values.Length != WorkloadLabelNames.Length)
        {
            throw new ArgumentException($"expected {WorkloadLabelNames.Length} label values, got {values.Length}", nameof(values));
        }

        Values = values;
        ConnectionSecurityPolicy = connectionSecurityPolicy;
        var text = new StringBuilder(512);
        for (var i = 0; i < values.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }

            PrometheusText.AppendLabel(text, WorkloadLabelNames[i], values[i]);
        }

        PrometheusLabels = text.ToString();
        Key = string.Join('\u001f', values) + "\u001f" + connectionSecurityPolicy;
    }

    /// <summary>Values in <see cref="WorkloadLabelNames"/> order.</summary>
    public ImmutableArray<string> Values { get; }

    public string ConnectionSecurityPolicy { get; }

    /// <summary><c>reporter="source",source_workload="...",...,destination_cluster="..."</c> (escaped).</summary>
    public string PrometheusLabels { get; }

    /// <summary>Value identity used for interning.</summary>
    public string Key { get; }

    public string Get(string name)
    {
        var index = WorkloadLabelNames.IndexOf(name);
        return index >= 0 ? Values[index] : name == "connection_security_policy" ? ConnectionSecurityPolicy : throw new ArgumentException(name, nameof(name));
    }
}

/// <summary>
/// Derives Istio's workload labels the way Istio's stats filter does for a proxy without TLS and without metadata exchange:
/// the local side from node metadata, the peer side from endpoint metadata (client side only), the service from cluster
/// metadata or the Istio cluster name; "unknown" where Istio has no value (and "latest" for a missing peer revision).
/// Runs only when a new (reporter, cluster, host) combination is first seen, never per request.
/// </summary>
internal static class IstioLabelResolver
{
    public const string Unknown = "unknown";
    public const string Latest = "latest";

    public static IstioReporter ReporterFor(TrafficDirection direction) =>
        direction == TrafficDirection.Inbound ? IstioReporter.Destination : IstioReporter.Source;

    public static IstioLabelSet Resolve(IstioReporter reporter, IstioWorkload local, ClusterConfig? cluster, EndpointConfig? endpoint)
    {
        var service = cluster is null ? null : IstioService.FromCluster(cluster);
        var peer = endpoint is null ? null : IstioPeer.FromEndpointMetadata(endpoint.Metadata);
        return reporter == IstioReporter.Destination ? ResolveServer(local, service) : ResolveClient(local, service, peer);
    }

    private static IstioLabelSet ResolveClient(IstioWorkload local, IstioService? service, IstioPeer? peer)
    {
        // Istio takes the destination namespace from the peer; without metadata exchange we also accept the
        // namespace of the Kubernetes service host, which is the same namespace for in-mesh services.
        var peerNamespace = NonEmpty(peer?.Namespace) ?? NonEmpty(service?.Namespace) ?? Unknown;
        string[] values =
        [
            "source",
            local.WorkloadName,
            local.CanonicalName,
            local.CanonicalRevision,
            local.Namespace,
            Unknown, // source_principal: no TLS identity
            local.AppName,
            local.AppVersion,
            local.ClusterId,
            NonEmpty(peer?.WorkloadName) ?? Unknown,
            peerNamespace,
            Unknown, // destination_principal: no TLS identity
            Unknown, // destination_app: the endpoint encoding has no app
            Unknown, // destination_version: nor a version
            NonEmpty(service?.Host) ?? Unknown,
            NonEmpty(peer?.CanonicalName) ?? Unknown,
            NonEmpty(peer?.CanonicalRevision) ?? Latest,
            NonEmpty(service?.Name) ?? Unknown,
            peerNamespace,
            NonEmpty(peer?.ClusterId) ?? Unknown,
        ];

        // Istio's client side has no mTLS verdict without an upstream TLS connection.
        return new IstioLabelSet([.. values], Unknown);
    }

    private static IstioLabelSet ResolveServer(IstioWorkload local, IstioService? service)
    {
        string[] values =
        [
            "destination",
            Unknown,
            Unknown,
            Latest,
            Unknown,
            Unknown,
            Unknown,
            Unknown,
            Unknown,
            local.WorkloadName,
            local.Namespace,
            Unknown, // destination_principal: no TLS identity
            local.AppName,
            local.AppVersion,
            NonEmpty(service?.Host) ?? local.CanonicalName,
            local.CanonicalName,
            local.CanonicalRevision,
            NonEmpty(service?.Name) ?? local.CanonicalName,
            local.Namespace,
            local.ClusterId,
        ];

        // Server side without a peer certificate: plaintext.
        return new IstioLabelSet([.. values], "none");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
