namespace SharpProxy.Core.Configuration;

/// <summary>
/// Envoy's HTTP fault filter config (envoy.filters.http.fault): a fixed delay and/or an abort, each for a fraction of
/// requests. Istio compiles VirtualService fault injection into this, per route.
/// </summary>
internal sealed record FaultConfig
{
    public TimeSpan? Delay { get; init; }

    /// <summary>Share of requests delayed, in millionths (FractionalPercent normalised).</summary>
    public uint DelayPerMillion { get; init; }

    public int? AbortHttpStatus { get; init; }

    public int? AbortGrpcStatus { get; init; }

    /// <summary>Share of requests aborted, in millionths.</summary>
    public uint AbortPerMillion { get; init; }

    public bool IsEmpty => Delay is null && AbortHttpStatus is null && AbortGrpcStatus is null;
}
