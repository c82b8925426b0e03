namespace SharpProxy.Core.Filters;

/// <summary>Envoy's short response flags, as they appear in access logs and in x-sharpproxy-response-flags.</summary>
internal static class ResponseFlags
{
    public const string None = "-";
    public const string NoRouteFound = "NR";
    public const string NoHealthyUpstream = "UH";
    public const string UpstreamConnectionFailure = "UF";
    public const string UpstreamConnectionTermination = "UC";
    public const string UpstreamRemoteReset = "UR";
    public const string UpstreamRequestTimeout = "UT";
    public const string NoClusterFound = "NC";
    public const string UpstreamOverflow = "UO";
    public const string DownstreamConnectionTermination = "DC";
    public const string DownstreamProtocolError = "DPE";
    public const string UpgradeFailed = "UPE";
    public const string UpstreamRetryLimitExceeded = "URX";
}
