namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// One host as the consistent-hash builders (<see cref="RingHashTable"/>, <see cref="MaglevTable"/>) see it.
/// </summary>
/// <param name="Key">
/// The host's hash key, already chosen by the caller the way Envoy's <c>HashingLoadBalancer::hashKey</c>
/// does: the non-empty string <c>filter_metadata["envoy.lb"]["hash_key"]</c>, else the hostname when
/// <c>use_hostname_for_hashing</c> (no port), else the address string (<c>"127.0.0.1:90"</c>,
/// <c>"[::1]:90"</c>). Must be non-empty. The tables never look at anything else, so two hosts with the
/// same key land on the same ring points / permutation.
/// </param>
/// <param name="Weight">The endpoint's <c>load_balancing_weight</c> (at least 1).</param>
internal readonly record struct HashHost(string Key, uint Weight);
