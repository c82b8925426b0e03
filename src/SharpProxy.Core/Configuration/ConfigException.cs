namespace SharpProxy.Core.Configuration;

/// <summary>A configuration that cannot be used; carries every error found, each naming where it is.</summary>
internal sealed class ConfigException(IReadOnlyList<string> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
