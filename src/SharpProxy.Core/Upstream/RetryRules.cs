using System.Globalization;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>How one try failed before any response header arrived.</summary>
internal enum UpstreamFailure
{
    DownstreamAborted,
    RouteTimeout,
    PerTryTimeout,
    ConnectFailure,
    RefusedStream,
    Reset,
}

/// <summary>Envoy's retry decisions (RetryStateImpl): which failures and which responses a <c>retry_on</c> set retries.</summary>
internal static class RetryRules
{
    private const RetryOn AnyReset = RetryOn.Reset | RetryOn.FiveXx | RetryOn.GatewayError;

    public static bool ShouldRetry(RetryPolicyConfig policy, UpstreamFailure failure)
    {
        var on = policy.RetryOn;
        return failure switch
        {
            // A reset of any kind (a per-try timeout resets the try) is what 5xx, gateway-error and reset cover.
            UpstreamFailure.ConnectFailure => (on & (AnyReset | RetryOn.ConnectFailure)) != 0,
            UpstreamFailure.RefusedStream => (on & (AnyReset | RetryOn.RefusedStream)) != 0,
            UpstreamFailure.Reset or UpstreamFailure.PerTryTimeout => (on & AnyReset) != 0,

            // The route timeout bounds all tries together, and a client that left gets nothing.
            _ => false,
        };
    }

    public static bool ShouldRetry(RetryPolicyConfig policy, HttpResponseMessage response)
    {
        var headers = response.Headers;
        var grpcStatus = (policy.RetryOn & RetryOn.AnyGrpc) != 0 && TryGetGrpcStatus(response, out var parsed) ? parsed : -1;
        return ShouldRetry(policy, (int)response.StatusCode, headers.Contains("x-envoy-overloaded"), headers.Contains("x-envoy-ratelimited"), grpcStatus);
    }

    /// <param name="grpcStatus">grpc-status of a trailers-only reply; -1 when absent.</param>
    public static bool ShouldRetry(RetryPolicyConfig policy, int status, bool overloaded, bool rateLimited, int grpcStatus)
    {
        var on = policy.RetryOn;

        // Envoy never retries an upstream that says it is overloaded, and retries a rate-limited answer only when asked to.
        if (overloaded)
        {
            return false;
        }

        if (rateLimited)
        {
            return (on & RetryOn.EnvoyRateLimited) != 0;
        }

        if ((on & RetryOn.FiveXx) != 0 && status >= 500)
        {
            return true;
        }

        if ((on & RetryOn.GatewayError) != 0 && status is 502 or 503 or 504)
        {
            return true;
        }

        if ((on & RetryOn.Retriable4xx) != 0 && status == 409)
        {
            return true;
        }

        if ((on & RetryOn.RetriableStatusCodes) != 0 && policy.RetriableStatusCodes.Contains(status))
        {
            return true;
        }

        if ((on & RetryOn.AnyGrpc) != 0 && grpcStatus >= 0)
        {
            var flag = grpcStatus switch
            {
                1 => RetryOn.GrpcCancelled,
                4 => RetryOn.GrpcDeadlineExceeded,
                8 => RetryOn.GrpcResourceExhausted,
                13 => RetryOn.GrpcInternal,
                14 => RetryOn.GrpcUnavailable,
                _ => RetryOn.None,
            };
            return (on & flag) != 0;
        }

        return false;
    }

    /// <summary>A gRPC status in the response headers: a trailers-only reply, the only gRPC failure visible before the body.</summary>
    private static bool TryGetGrpcStatus(HttpResponseMessage response, out int status)
    {
        status = 0;
        return response.Headers.NonValidated.TryGetValues("grpc-status", out var values)
            && int.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out status);
    }
}

/// <summary>The hosts a request has tried, for the previous-hosts retry predicate; allocates only when a request retries.</summary>
internal struct RetryHosts
{
    private HostState[]? _hosts;
    private int _count;

    public void Add(HostState host)
    {
        _hosts ??= new HostState[4];
        if (_count == _hosts.Length)
        {
            Array.Resize(ref _hosts, _count * 2);
        }

        _hosts[_count++] = host;
    }

    public readonly bool Contains(HostState host)
    {
        for (var i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_hosts![i], host))
            {
                return true;
            }
        }

        return false;
    }
}
