using System.Globalization;

namespace SharpProxy.Core.Routing;

/// <summary>
/// The HTTP connection manager's strip_any_host_port / strip_matching_host_port, applied to the authority before
/// virtual host selection (and seen by <c>:authority</c> header matchers), exactly as Envoy's HeaderUtility does.
/// </summary>
internal readonly struct HostNormalization(bool stripAnyHostPort, bool stripMatchingHostPort, int listenerPort)
{
    public bool StripAnyHostPort { get; } = stripAnyHostPort;

    public bool StripMatchingHostPort { get; } = stripMatchingHostPort;

    public int ListenerPort { get; } = listenerPort;

    public bool IsEnabled => StripAnyHostPort || StripMatchingHostPort;

    /// <summary>The authority as Envoy routes on it: the port removed when the HCM options say so.</summary>
    public ReadOnlySpan<char> Apply(ReadOnlySpan<char> authority)
    {
        if (!IsEnabled)
        {
            return authority;
        }

        var portStart = GetPortStart(authority);
        if (portStart < 0)
        {
            return authority;
        }

        // Envoy: absl::SimpleAtoi into uint32 (whitespace and a '+' allowed, no '-'); an unparsable port leaves the host alone.
        var portText = authority[(portStart + 1)..];
        if (portText.Contains('-') ||
            !uint.TryParse(portText, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var port))
        {
            return authority;
        }

        // strip_any_host_port wins when both are set (Envoy rejects that combination at config time).
        if (!StripAnyHostPort && port != (uint)ListenerPort)
        {
            return authority;
        }

        return authority[..portStart];
    }

    /// <summary>Envoy's HeaderUtility::getPortStart: the last ':' unless it is inside an IPv6 literal; -1 when none.</summary>
    public static int GetPortStart(ReadOnlySpan<char> host)
    {
        var portStart = host.LastIndexOf(':');
        if (portStart < 0)
        {
            return -1;
        }

        var v6End = host.LastIndexOf(']');
        return v6End < 0 || v6End < portStart ? portStart : -1;
    }
}
