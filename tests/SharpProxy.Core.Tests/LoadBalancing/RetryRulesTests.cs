using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.LoadBalancing;

public sealed class RetryRulesTests
{
    [Theory]
    [InlineData((int)RetryOn.FiveXx, 500, true)]
    [InlineData((int)RetryOn.FiveXx, 503, true)]
    [InlineData((int)RetryOn.FiveXx, 404, false)]
    [InlineData((int)RetryOn.GatewayError, 500, false)]
    [InlineData((int)RetryOn.GatewayError, 502, true)]
    [InlineData((int)RetryOn.GatewayError, 504, true)]
    [InlineData((int)RetryOn.Retriable4xx, 409, true)]
    [InlineData((int)RetryOn.Retriable4xx, 429, false)]
    [InlineData((int)RetryOn.ConnectFailure, 503, false)]
    [InlineData((int)RetryOn.Reset, 503, false)]
    public void ResponseStatus(int on, int status, bool expected)
    {
        using var response = new HttpResponseMessage((HttpStatusCode)status);
        Assert.Equal(expected, RetryRules.ShouldRetry(new RetryPolicyConfig { RetryOn = (RetryOn)on }, response));
    }

    [Fact]
    public void RetriableStatusCodes_OnlyListed()
    {
        var policy = new RetryPolicyConfig { RetryOn = RetryOn.RetriableStatusCodes, RetriableStatusCodes = [429, 503] };
        using var tooMany = new HttpResponseMessage((HttpStatusCode)429);
        using var unavailable = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var internalError = new HttpResponseMessage(HttpStatusCode.InternalServerError);

        Assert.True(RetryRules.ShouldRetry(policy, tooMany));
        Assert.True(RetryRules.ShouldRetry(policy, unavailable));
        Assert.False(RetryRules.ShouldRetry(policy, internalError));
    }

    [Theory]
    [InlineData((int)RetryOn.GrpcUnavailable, "14", true)]
    [InlineData((int)RetryOn.GrpcUnavailable, "13", false)]
    [InlineData((int)RetryOn.GrpcCancelled, "1", true)]
    [InlineData((int)RetryOn.GrpcDeadlineExceeded, "4", true)]
    [InlineData((int)RetryOn.GrpcResourceExhausted, "8", true)]
    [InlineData((int)RetryOn.GrpcInternal, "13", true)]
    [InlineData((int)RetryOn.GrpcInternal, "0", false)]
    [InlineData((int)RetryOn.GrpcInternal, "x", false)]
    public void GrpcStatusInTrailersOnlyResponse(int on, string grpcStatus, bool expected)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        response.Headers.TryAddWithoutValidation("grpc-status", grpcStatus);
        Assert.Equal(expected, RetryRules.ShouldRetry(new RetryPolicyConfig { RetryOn = (RetryOn)on }, response));
    }

    [Fact]
    public void RateLimitedAndOverloadedAnswers()
    {
        var fiveXx = new RetryPolicyConfig { RetryOn = RetryOn.FiveXx };
        var rateLimited = new RetryPolicyConfig { RetryOn = RetryOn.EnvoyRateLimited };
        using var limited = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        limited.Headers.TryAddWithoutValidation("x-envoy-ratelimited", "true");
        using var overloaded = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        overloaded.Headers.TryAddWithoutValidation("x-envoy-overloaded", "true");

        Assert.False(RetryRules.ShouldRetry(fiveXx, limited));
        Assert.True(RetryRules.ShouldRetry(rateLimited, limited));
        Assert.False(RetryRules.ShouldRetry(fiveXx, overloaded));
    }

    [Theory]
    [InlineData((int)RetryOn.ConnectFailure, (int)UpstreamFailure.ConnectFailure, true)]
    [InlineData((int)RetryOn.ConnectFailure, (int)UpstreamFailure.Reset, false)]
    [InlineData((int)RetryOn.RefusedStream, (int)UpstreamFailure.RefusedStream, true)]
    [InlineData((int)RetryOn.RefusedStream, (int)UpstreamFailure.ConnectFailure, false)]
    [InlineData((int)RetryOn.Reset, (int)UpstreamFailure.ConnectFailure, true)]
    [InlineData((int)RetryOn.Reset, (int)UpstreamFailure.PerTryTimeout, true)]
    [InlineData((int)RetryOn.FiveXx, (int)UpstreamFailure.Reset, true)]
    [InlineData((int)RetryOn.GatewayError, (int)UpstreamFailure.RefusedStream, true)]
    [InlineData((int)RetryOn.FiveXx, (int)UpstreamFailure.RouteTimeout, false)]
    [InlineData((int)RetryOn.FiveXx, (int)UpstreamFailure.DownstreamAborted, false)]
    [InlineData((int)RetryOn.RetriableStatusCodes, (int)UpstreamFailure.ConnectFailure, false)]
    public void Failures(int on, int failure, bool expected) =>
        Assert.Equal(expected, RetryRules.ShouldRetry(new RetryPolicyConfig { RetryOn = (RetryOn)on }, (UpstreamFailure)failure));
}
