namespace SharpProxy.Deploy.Tests;

/// <summary>
/// What the deploy/ manifests use that SharpProxy's main branch may not accept yet because it is being built on
/// another branch. A flag or bootstrap error is tolerated ONLY if it is listed here, and every tolerance is written to
/// the test output; anything else that the real parser or loader rejects fails the test. Remove an entry when its
/// feature has landed (deploy/README.md, "Pending", lists the same).
/// </summary>
internal static class PendingSupport
{
    /// <summary>
    /// Proxy flags, each taking one value: <c>--readiness-port</c> (Istio's 15021 <c>/healthz/ready</c>) and
    /// <c>--prometheus-port</c> (15090 <c>/stats/prometheus</c>), issue 7 part 1.
    /// </summary>
    public static readonly IReadOnlyList<string> ProxyFlags = ["--readiness-port", "--prometheus-port"];

    /// <summary>
    /// Fragments of <c>--mode validate</c> errors for the sidecar bootstraps' interception features (issue 6): the
    /// original_dst listener filter, <c>use_original_dst</c>, <c>tcp_proxy</c>, ORIGINAL_DST clusters and
    /// <c>upstream_bind_config</c> (127.0.0.6).
    /// </summary>
    public static readonly IReadOnlyList<string> BootstrapErrors =
    [
        "field 'listener_filters' is not supported",
        "field 'use_original_dst' is not supported",
        "unsupported type URL 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'",
        "unsupported type URL 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst'",
        "field 'upstream_bind_config' is not supported",
    ];

    public static bool IsPendingBootstrapError(string line) =>
        BootstrapErrors.Any(fragment => line.Contains(fragment, StringComparison.Ordinal));
}
