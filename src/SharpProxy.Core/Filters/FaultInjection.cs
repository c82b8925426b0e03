using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Filters;

/// <summary>
/// Envoy's HTTP fault filter at request time: the delay first (for its share of requests), then the abort (for its
/// share), answered as Envoy answers it — the configured status with "fault filter abort", flag FI; gRPC callers get
/// the configured grpc-status in a trailers-only reply.
/// </summary>
internal static class FaultInjection
{
    public const string AbortBody = "fault filter abort";
    public const string DelayInjected = "DI";
    public const string FaultInjected = "FI";

    private static long _delaysInjected;
    private static long _abortsInjected;

    /// <summary>Envoy's fault.delays_injected, over all connection managers.</summary>
    public static long DelaysInjected => Volatile.Read(ref _delaysInjected);

    /// <summary>Envoy's fault.aborts_injected, over all connection managers.</summary>
    public static long AbortsInjected => Volatile.Read(ref _abortsInjected);

    /// <summary>The config that applies: the route's, else the virtual host's, else the filter's own; null without the filter.</summary>
    public static FaultConfig? Effective(HttpConnectionManagerConfig http, VirtualHostConfig vhost, RouteConfig route) =>
        http.FaultFilter is null ? null : route.Fault ?? vhost.Fault ?? http.FaultFilter;

    public static bool ShouldDelay(FaultConfig fault) => fault.Delay is not null && Chance(fault.DelayPerMillion);

    public static bool ShouldAbort(FaultConfig fault) =>
        (fault.AbortHttpStatus is not null || fault.AbortGrpcStatus is not null) && Chance(fault.AbortPerMillion);

    public static async Task<bool> DelayAsync(HttpContext context, FaultConfig fault)
    {
        Interlocked.Increment(ref _delaysInjected);
        try
        {
            await Task.Delay(fault.Delay!.Value, context.RequestAborted).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            // The client gave up during the injected delay.
            return false;
        }
    }

    public static Task AbortAsync(HttpContext context, FaultConfig fault, bool isGrpc)
    {
        Interlocked.Increment(ref _abortsInjected);
        return fault.AbortGrpcStatus is { } grpcStatus
            ? LocalReply.WriteAsync(context, StatusCodes.Status200OK, FaultInjected, AbortBody, isGrpc: true, grpcStatus)
            : LocalReply.WriteAsync(context, fault.AbortHttpStatus!.Value, FaultInjected, AbortBody, isGrpc);
    }

    private static bool Chance(uint perMillion) =>
        perMillion >= 1_000_000 || (perMillion > 0 && (uint)Random.Shared.Next(1_000_000) < perMillion);
}
