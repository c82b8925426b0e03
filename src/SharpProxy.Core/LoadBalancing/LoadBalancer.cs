using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Picks a host for one request attempt. Implementations are built once per host-set change and shared
/// read-only by all workers; per-worker mutable state (cursors) is indexed by worker so workers never contend.
/// </summary>
internal abstract class LoadBalancer
{
    /// <param name="worker">The worker serving the request.</param>
    /// <param name="hash">The request hash from the route's hash policies, when any produced one.</param>
    /// <param name="attempt">0 for the first try; retries ask for the next candidate.</param>
    /// <returns>The host, or null when no usable host exists (503 UH).</returns>
    public abstract HostState? Pick(int worker, ulong? hash, int attempt);
}
