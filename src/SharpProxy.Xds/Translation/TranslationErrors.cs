namespace SharpProxy.Xds.Translation;

/// <summary>Collects every translation error with the config path it belongs to; translation never stops at the first.</summary>
internal sealed class TranslationErrors
{
    private readonly List<string> _errors = [];

    public IReadOnlyList<string> All => _errors;

    public bool Any => _errors.Count > 0;

    public void Add(string path, string message) => _errors.Add(path + ": " + message);

    /// <summary>A field present in our descriptors whose behaviour is not implemented yet: refusing it beats ignoring it.</summary>
    public void NotYetSupported(string path, string what) =>
        _errors.Add(path + ": " + what + " is not supported yet by SharpProxy");
}
