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
    /// Proxy flags, each taking one value, that the manifests use before main accepts them. Empty: <c>--readiness-port</c>
    /// and <c>--prometheus-port</c> have landed.
    /// </summary>
    public static readonly IReadOnlyList<string> ProxyFlags = [];

    /// <summary>
    /// Fragments of <c>--mode validate</c> errors for bootstrap features not on main yet. Empty: the interception
    /// features the sidecar bootstraps use (original_dst, use_original_dst, tcp_proxy, ORIGINAL_DST clusters,
    /// upstream_bind_config) have landed.
    /// </summary>
    public static readonly IReadOnlyList<string> BootstrapErrors = [];

    public static bool IsPendingBootstrapError(string line) =>
        BootstrapErrors.Any(fragment => line.Contains(fragment, StringComparison.Ordinal));
}
