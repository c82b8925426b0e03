using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Telemetry;
using SharpProxy.Core.Telemetry.Tracing;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// Sends one request to the chosen host through the worker's pool and streams the response back:
/// headers as soon as they arrive, the body chunk by chunk in both directions, trailers at the end.
/// Failures before the response started become Envoy-like local replies; after that the downstream stream is reset.
/// </summary>
internal sealed partial class HttpForwarder(ILogger logger)
{
    private const int BufferSize = 64 * 1024;

    /// <summary>Envoy's local reply body when a circuit breaker refuses the request (reset reason "overflow").</summary>
    internal const string OverflowBody = "upstream connect error or disconnect/reset before headers. reset reason: overflow";

    public async Task ForwardAsync(HttpContext context, ForwardContext forward)
    {
        var cluster = forward.Cluster;
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var isWebSocket = upgrade is { IsUpgradableRequest: true }
            && string.Equals(context.Request.Headers.Upgrade.ToString(), "websocket", StringComparison.OrdinalIgnoreCase);
        if (isWebSocket && !forward.AllowWebSocket)
        {
            await LocalReply.WriteAsync(context, StatusCodes.Status403Forbidden, ResponseFlags.UpgradeFailed, "upgrade not allowed").ConfigureAwait(false);
            return;
        }

        var log = context.Features.Get<RequestLogState>();
        var policy = isWebSocket ? null : forward.RetryPolicy;
        var hasBody = !isWebSocket && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true;
        var bodyCompleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!hasBody)
        {
            bodyCompleted.TrySetResult();
            log?.RequestEndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        // A request that may be retried keeps a copy of its body (up to Envoy's 1 MiB buffer limit) so it can be resent.
        using var replayable = policy is not null && hasBody ? new ReplayableRequestBody(context.Request.Body, bodyCompleted, log) : null;
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);

        // Envoy's route timeout runs from the end of the downstream request to the end of the response, across all tries.
        ArmTimeout(cancellation, forward.Timeout, bodyCompleted.Task, immediately: !hasBody);

        var host = forward.Host;
        RetryHosts tried = default;

        // circuit_breakers max_retries: a retry holds one from the decision to the end of the retried try.
        var retriesHeld = 0;
        try
        {
        for (var attempt = 0; ; attempt++)
        {
            if (log is not null)
            {
                log.UpstreamHost = host.Authority;
                log.UpstreamCluster = cluster.Name;
                log.Cluster = cluster;
                log.Host = host;
            }

            using var perTry = policy?.PerTryTimeout is { } perTryTimeout ? CancellationTokenSource.CreateLinkedTokenSource(cancellation.Token) : null;
            if (perTry is not null)
            {
                // The first try's clock starts once the request is complete, as the route's does; a retry's at once.
                ArmTimeout(perTry, policy!.PerTryTimeout!.Value, bodyCompleted.Task, immediately: attempt > 0 || !hasBody);
            }

            var tryCancellation = perTry ?? cancellation;
            HttpContent? content = !hasBody ? null
                : replayable is not null ? replayable.CreateContent(context.Request.ContentLength)
                : new StreamingRequestContent(context.Request.Body, bodyCompleted, log, context.Request.ContentLength);
            using var request = CreateRequest(context, forward, host, isWebSocket, content);
            System.Diagnostics.Activity? clientSpan = null;
            if (log is not null)
            {
                log.UpstreamAttempts++;
                if (log.Trace is { } trace)
                {
                    // One client span per try (when sampled); the upstream sees it, or our server span, as its parent.
                    clientSpan = ProxyTracer.StartClientSpan(trace, cluster.Name, host.Authority);
                    TracePropagation.Inject(request.Headers, trace, clientSpan?.SpanId ?? trace.SpanId);
                }
            }

            // circuit_breakers max_requests: upstream requests in flight on the cluster, across all workers.
            if (!cluster.Resources.TryAcquireRequest())
            {
                cluster.Stats.OnPendingOverflow();
                await LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ResponseFlags.UpstreamOverflow, OverflowBody, forward.IsGrpc).ConfigureAwait(false);
                return;
            }

            host.OnRequestStart();
            cluster.Stats.OnRequestStart();
            var status = 0;
            var retry = false;
            var overflowed = false;
            HttpResponseMessage? response = null;
            try
            {
                try
                {
                    response = await cluster.GetPool(forward.Worker).InvokerFor(host, request.Version).SendAsync(request, tryCancellation.Token).ConfigureAwait(false);
                    log?.ResponseStartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
                }
                catch (Exception ex) when (IsOverflow(ex))
                {
                    // max_pending_requests refused the connection this request waited for; Envoy never retries an overflow.
                    overflowed = true;
                    status = StatusCodes.Status503ServiceUnavailable;
                    await LocalReply.WriteAsync(context, status, ResponseFlags.UpstreamOverflow, OverflowBody, forward.IsGrpc).ConfigureAwait(false);
                    return;
                }
                catch (Exception ex)
                {
                    var failure = Classify(context, ex, cancellation, perTry);
                    status = StatusFor(failure);
                    var retriable = policy is not null && RetryRules.ShouldRetry(policy, failure);
                    var retryOverflow = false;
                    if (retriable && CanRetry(context, policy!, attempt, replayable) && AcquireRetry(cluster, ref retriesHeld, ref retryOverflow))
                    {
                        retry = true;
                    }
                    else
                    {
                        await ReplyToSendFailureAsync(context, forward, host, failure, ex, retriesExhausted: retriable && !retryOverflow, retryOverflow).ConfigureAwait(false);
                        return;
                    }
                }

                if (!retry)
                {
                    status = (int)response!.StatusCode;
                    var retryOverflow = false;
                    if (policy is not null && RetryRules.ShouldRetry(policy, response) && CanRetry(context, policy, attempt, replayable)
                        && AcquireRetry(cluster, ref retriesHeld, ref retryOverflow))
                    {
                        retry = true;
                    }
                    else if (isWebSocket && response.StatusCode == HttpStatusCode.SwitchingProtocols)
                    {
                        await ProxyUpgradeAsync(context, forward, upgrade!, response).ConfigureAwait(false);
                        return;
                    }
                    else
                    {
                        CopyResponseHeaders(context, forward, response);
                        await CopyResponseBodyAsync(context, forward, host, response, tryCancellation).ConfigureAwait(false);
                        return;
                    }
                }
            }
            finally
            {
                // Outlier detection sees every try: the upstream status (for gRPC, a grpc-status in the headers mapped as
                // Envoy maps it) or the local-origin failure (503 connect failure or reset, 504 timeout); not a client
                // that left (499 without a response) nor an overflow, which says nothing about the host.
                if (cluster.Outlier is { } outlier && !overflowed)
                {
                    var reported = response is null ? (status == 499 ? 0 : status)
                        : forward.IsGrpc ? OutlierDetector.GrpcAwareStatus(response.Headers, status)
                        : status;
                    if (reported != 0)
                    {
                        outlier.ReportStatus(host, reported);
                    }
                }

                response?.Dispose();
                if (clientSpan is not null)
                {
                    ProxyTracer.FinishClientSpan(clientSpan, status, overflowed ? "overflow" : null);
                }

                host.OnRequestEnd(status);
                cluster.Stats.OnRequestEnd(status == 0 ? 503 : status);
                cluster.Resources.ReleaseRequest();
                if (attempt > 0)
                {
                    // This try was a retry: it held one max_retries slot since the decision to make it.
                    cluster.ReleaseRetry();
                    retriesHeld--;
                }
            }

            cluster.Stats.OnRetry();
            Log.Retrying(logger, cluster.Name, host.Authority, attempt + 1, status);
            if (!await BackOffAsync(policy!, attempt, cancellation.Token).ConfigureAwait(false))
            {
                if (!context.RequestAborted.IsCancellationRequested)
                {
                    cluster.Stats.OnTimeout();
                    await LocalReply.WriteAsync(context, StatusCodes.Status504GatewayTimeout, ResponseFlags.UpstreamRequestTimeout, "upstream request timeout", forward.IsGrpc).ConfigureAwait(false);
                }

                return;
            }

            tried.Add(host);
            var next = PickRetryHost(forward.Cluster, forward.Host, forward.Worker, forward.Hash, policy!, ref tried);
            if (next is null)
            {
                cluster.Stats.OnNoHealthyUpstream();
                await LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ResponseFlags.NoHealthyUpstream, "no healthy upstream", forward.IsGrpc).ConfigureAwait(false);
                return;
            }

            host = next;
        }
        }
        finally
        {
            // A retry decided but never sent (back-off cut short, no host, overflow) still holds its slot.
            for (; retriesHeld > 0; retriesHeld--)
            {
                cluster.ReleaseRetry();
            }
        }
    }

    internal static bool AcquireRetry(ClusterState cluster, ref int held, ref bool overflowed)
    {
        if (cluster.TryAcquireRetry())
        {
            held++;
            return true;
        }

        overflowed = true;
        return false;
    }

    private static bool CanRetry(HttpContext context, RetryPolicyConfig policy, int attempt, ReplayableRequestBody? body) =>
        attempt < policy.NumRetries
        && !context.RequestAborted.IsCancellationRequested
        && (body is null || body.CanReplay);

    /// <summary>
    /// Envoy's host choice for a retry: ask the balancer again; with the previous-hosts predicate, a host already tried is
    /// rejected and the choice redone up to host_selection_retry_max_attempts times (the reselection index is the
    /// balancer's attempt, which moves ring hash and Maglev to their next candidate), after which the last choice stands.
    /// </summary>
    internal static HostState? PickRetryHost(ClusterState cluster, HostState current, int worker, ulong? hash, RetryPolicyConfig policy, ref RetryHosts tried)
    {
        if (cluster.IsOriginalDestination)
        {
            // ORIGINAL_DST has exactly one host per connection: its original destination.
            return current;
        }

        HostState? candidate = null;
        for (var selection = 0; selection <= policy.HostSelectionMaxAttempts; selection++)
        {
            candidate = cluster.Balancer.Pick(worker, hash, selection);
            if (candidate is null || !policy.AvoidPreviousHosts || !tried.Contains(candidate))
            {
                return candidate;
            }
        }

        return candidate;
    }

    /// <summary>Envoy's fully jittered exponential back-off: uniform in [0, (2^n - 1) x base), capped at the maximum.</summary>
    internal static TimeSpan BackOffDelay(RetryPolicyConfig policy, int attempt)
    {
        var multiplier = (1L << Math.Min(attempt + 1, 30)) - 1;
        var ceiling = Math.Min(policy.BaseInterval.Ticks * multiplier, policy.MaxInterval.Ticks);
        return TimeSpan.FromTicks(ceiling > 0 ? Random.Shared.NextInt64(ceiling) : 0);
    }

    private static async Task<bool> BackOffAsync(RetryPolicyConfig policy, int attempt, CancellationToken cancellationToken)
    {
        var delay = BackOffDelay(policy, attempt);
        try
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static void ArmTimeout(CancellationTokenSource cancellation, TimeSpan timeout, Task bodyCompleted, bool immediately)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return;
        }

        if (immediately || bodyCompleted.IsCompletedSuccessfully)
        {
            cancellation.CancelAfter(timeout);
            return;
        }

        _ = bodyCompleted.ContinueWith(
            static (_, state) => ((TimeoutArm)state!).Arm(),
            new TimeoutArm(cancellation, timeout),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion,
            TaskScheduler.Default);
    }

    private static UpstreamFailure Classify(HttpContext context, Exception ex, CancellationTokenSource route, CancellationTokenSource? perTry)
    {
        if (context.RequestAborted.IsCancellationRequested || ex is DownstreamAbortedException || ex.InnerException is DownstreamAbortedException)
        {
            return UpstreamFailure.DownstreamAborted;
        }

        if (ex is OperationCanceledException)
        {
            if (route.IsCancellationRequested)
            {
                return UpstreamFailure.RouteTimeout;
            }

            if (perTry is { IsCancellationRequested: true })
            {
                return UpstreamFailure.PerTryTimeout;
            }
        }

        if (IsConnectFailure(ex))
        {
            return UpstreamFailure.ConnectFailure;
        }

        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpProtocolException { ErrorCode: RefusedStreamErrorCode })
            {
                return UpstreamFailure.RefusedStream;
            }
        }

        return UpstreamFailure.Reset;
    }

    /// <summary>HTTP/2 REFUSED_STREAM (RFC 9113 section 7): the server did not process the request, so it is safe to retry.</summary>
    private const long RefusedStreamErrorCode = 0x7;

    internal static int StatusFor(UpstreamFailure failure) => failure switch
    {
        UpstreamFailure.DownstreamAborted => 499,
        UpstreamFailure.RouteTimeout or UpstreamFailure.PerTryTimeout => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    private static HttpRequestMessage CreateRequest(HttpContext context, ForwardContext forward, HostState host, bool isWebSocket, HttpContent? content)
    {
        var downstream = context.Request;
        var version = isWebSocket ? HttpVersion.Version11 : UpstreamVersion(forward.Cluster.Config.Protocol, downstream.Protocol);

        // HTTP/2 over TLS goes to an https:// URI (:scheme https, as servers such as Kestrel require); HTTP/1.1 over TLS
        // keeps http:// with the TLS under it (see UpstreamPool.InvokerFor).
        var baseUri = version.Major >= 2 && host.TlsFor(forward.Cluster.Config) is not null ? host.SecureBaseUri : host.BaseUri;
        var target = forward.Query.Length == 0
            ? baseUri + forward.Path
            : baseUri + forward.Path + "?" + forward.Query;
        var request = new HttpRequestMessage(HttpMethodFor(downstream.Method), new Uri(target, UriKind.Absolute))
        {
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Version = version,
            Content = content,
        };

        var headers = downstream.Headers;
        var nominated = headers.Connection.ToString();
        foreach (var header in headers)
        {
            var name = header.Key;
            if (name.Length == 0 || name[0] == ':' || HeaderRules.IsHopByHop(name) || HeaderRules.IsNominatedBy(nominated, name)
                || string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (HeaderRules.IsContentHeader(name))
            {
                if (request.Content is not null && !string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)header.Value);
                }

                continue;
            }

            request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)header.Value);
        }

        // "te: trailers" is the one TE value that crosses (gRPC needs it end to end).
        if (headers.TryGetValue("te", out var te) && te.ToString().Contains("trailers", StringComparison.OrdinalIgnoreCase))
        {
            request.Headers.TryAddWithoutValidation("te", "trailers");
        }

        if (isWebSocket)
        {
            request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
            request.Headers.TryAddWithoutValidation("Upgrade", headers.Upgrade.ToString());
        }

        request.Headers.Host = forward.Authority;
        AddForwardingHeaders(context, forward.Http, request);
        return request;
    }

    private static void AddForwardingHeaders(HttpContext context, HttpConnectionManagerConfig http, HttpRequestMessage request)
    {
        var downstream = context.Request;
        var scheme = downstream.IsHttps ? "https" : "http";
        if (http.UseRemoteAddress)
        {
            request.Headers.Remove("x-forwarded-proto");
            request.Headers.TryAddWithoutValidation("x-forwarded-proto", scheme);
            if (!http.SkipXffAppend && context.Connection.RemoteIpAddress is { } remote)
            {
                var existing = downstream.Headers["x-forwarded-for"].ToString();
                request.Headers.Remove("x-forwarded-for");
                request.Headers.TryAddWithoutValidation(
                    "x-forwarded-for",
                    existing.Length == 0 ? FormatAddress(remote) : existing + "," + FormatAddress(remote));
            }
        }
        else if (!downstream.Headers.ContainsKey("x-forwarded-proto"))
        {
            request.Headers.TryAddWithoutValidation("x-forwarded-proto", scheme);
        }

        if (http.GenerateRequestId)
        {
            var hasId = downstream.Headers.ContainsKey("x-request-id");
            // An edge proxy (use_remote_address) does not trust an external request id unless told to preserve it.
            if (!hasId || (http.UseRemoteAddress && !http.PreserveExternalRequestId))
            {
                var requestId = Guid.NewGuid().ToString();
                request.Headers.Remove("x-request-id");
                request.Headers.TryAddWithoutValidation("x-request-id", requestId);
                if (context.Features.Get<RequestLogState>() is { } log)
                {
                    log.RequestId = requestId;
                }
            }
        }
    }

    private static string FormatAddress(IPAddress address) =>
        (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    private static Version UpstreamVersion(UpstreamProtocol protocol, string downstreamProtocol) => protocol switch
    {
        UpstreamProtocol.Http2 => HttpVersion.Version20,
        UpstreamProtocol.UseDownstream when HttpProtocol.IsHttp2(downstreamProtocol) => HttpVersion.Version20,
        _ => HttpVersion.Version11,
    };

    private static HttpMethod HttpMethodFor(string method) => method switch
    {
        "GET" => HttpMethod.Get,
        "POST" => HttpMethod.Post,
        "PUT" => HttpMethod.Put,
        "DELETE" => HttpMethod.Delete,
        "HEAD" => HttpMethod.Head,
        "OPTIONS" => HttpMethod.Options,
        "PATCH" => HttpMethod.Patch,
        "TRACE" => HttpMethod.Trace,
        _ => new HttpMethod(method),
    };

    private async Task ReplyToSendFailureAsync(HttpContext context, ForwardContext forward, HostState host, UpstreamFailure failure, Exception ex, bool retriesExhausted, bool retryOverflow = false)
    {
        var cluster = forward.Cluster;
        switch (failure)
        {
            case UpstreamFailure.DownstreamAborted:
                // The client left; there is nobody to answer.
                return;
            case UpstreamFailure.RouteTimeout:
            case UpstreamFailure.PerTryTimeout:
                cluster.Stats.OnTimeout();
                await LocalReply.WriteAsync(
                    context,
                    StatusCodes.Status504GatewayTimeout,
                    WithRetryLimit(ResponseFlags.UpstreamRequestTimeout, retriesExhausted && failure == UpstreamFailure.PerTryTimeout, retryOverflow),
                    "upstream request timeout",
                    forward.IsGrpc).ConfigureAwait(false);
                return;
            case UpstreamFailure.ConnectFailure:
                Log.ConnectFailed(logger, cluster.Name, host.Authority, ex.Message);
                context.Features.Get<RequestLogState>()?.UpstreamTransportFailureReason = InnermostMessage(ex);
                await LocalReply.WriteAsync(
                    context,
                    StatusCodes.Status503ServiceUnavailable,
                    WithRetryLimit(ResponseFlags.UpstreamConnectionFailure, retriesExhausted, retryOverflow),
                    ConnectFailureBody(ex),
                    forward.IsGrpc).ConfigureAwait(false);
                return;
            default:
                Log.UpstreamReset(logger, cluster.Name, host.Authority, ex.Message);
                await LocalReply.WriteAsync(
                    context,
                    StatusCodes.Status503ServiceUnavailable,
                    WithRetryLimit(ResponseFlags.UpstreamRemoteReset, retriesExhausted, retryOverflow),
                    failure == UpstreamFailure.RefusedStream
                        ? "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset"
                        : "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
                    forward.IsGrpc).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>
    /// Envoy adds UO when max_retries refused the retry, and URX when the failure was one the policy retries but no
    /// retry was left (flags in Envoy's order).
    /// </summary>
    internal static string WithRetryLimit(string flags, bool retriesExhausted, bool retryOverflow) =>
        retryOverflow ? flags + "," + ResponseFlags.UpstreamOverflow
        : retriesExhausted ? flags + "," + ResponseFlags.UpstreamRetryLimitExceeded
        : flags;

    private static string InnermostMessage(Exception ex)
    {
        var inner = ex;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner.Message;
    }

    /// <summary>Envoy names a TLS failure as the transport failure reason.</summary>
    private static string ConnectFailureBody(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is Tls.UpstreamTlsException tls)
            {
                return "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: " + tls.Message;
            }

            if (inner is System.Security.Authentication.AuthenticationException authentication)
            {
                return "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: " + authentication.Message;
            }
        }

        return "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
    }

    private static bool IsOverflow(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is UpstreamOverflowException)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsConnectFailure(Exception ex)
    {
        if (ex is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError })
        {
            return true;
        }

        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TimedOut })
            {
                return true;
            }
        }

        // SocketsHttpHandler's ConnectTimeout surfaces as a cancellation wrapped in HttpRequestException... or a TimeoutException.
        return ex is TaskCanceledException { InnerException: TimeoutException };
    }

    private static void CopyResponseHeaders(HttpContext context, ForwardContext forward, HttpResponseMessage response)
    {
        var downstream = context.Response;
        downstream.StatusCode = (int)response.StatusCode;
        var headers = downstream.Headers;
        CopyHeaders(response.Headers, headers);
        CopyHeaders(response.Content.Headers, headers);
        if (response.Headers.TransferEncodingChunked == true)
        {
            // Chunked framing overrides a content-length the upstream also sent (RFC 9112 section 6.3), which a proxy
            // removes: forwarded, it would contradict the body (Kestrel resets the stream on the mismatch).
            headers.ContentLength = null;
        }

        HeaderMutator.ApplyResponse(headers, forward.Table, forward.VirtualHost, forward.Route, forward.WeightedCluster);
    }

    private static void CopyHeaders(System.Net.Http.Headers.HttpHeaders source, IHeaderDictionary destination)
    {
        foreach (var header in source.NonValidated)
        {
            var name = header.Key;
            if (HeaderRules.IsHopByHop(name))
            {
                continue;
            }

            var values = header.Value;
            destination[name] = values.Count == 1 ? new StringValues(values.ToString()) : new StringValues([.. values]);
        }
    }

    private async Task CopyResponseBodyAsync(HttpContext context, ForwardContext forward, HostState host, HttpResponseMessage response, CancellationTokenSource cancellation)
    {
        var downstream = context.Response;
        if (string.Equals(context.Request.Method, "HEAD", StringComparison.Ordinal))
        {
            return;
        }

        var log = context.Features.Get<RequestLogState>();
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var source = await response.Content.ReadAsStreamAsync(cancellation.Token).ConfigureAwait(false);
            if (response.Content.Headers.ContentLength is null)
            {
                // Send headers now: a streaming response may not produce its first byte for a long time.
                await downstream.StartAsync(cancellation.Token).ConfigureAwait(false);
            }

            while (true)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellation.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await downstream.Body.WriteAsync(buffer.AsMemory(0, read), cancellation.Token).ConfigureAwait(false);
                if (log is not null)
                {
                    log.BytesSent += read;
                }
            }

            CopyTrailers(context, response);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
        {
            if (!context.RequestAborted.IsCancellationRequested)
            {
                if (cancellation.IsCancellationRequested)
                {
                    forward.Cluster.Stats.OnTimeout();
                }

                Log.ResponseBodyFailed(logger, forward.Cluster.Name, host.Authority, ex.Message);
                if (!downstream.HasStarted)
                {
                    var timedOut = cancellation.IsCancellationRequested;
                    await LocalReply.WriteAsync(
                        context,
                        timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway,
                        timedOut ? ResponseFlags.UpstreamRequestTimeout : ResponseFlags.UpstreamRemoteReset,
                        timedOut ? "upstream request timeout" : "upstream reset after headers",
                        forward.IsGrpc).ConfigureAwait(false);
                }
                else
                {
                    // Envoy resets the downstream stream when the upstream fails mid-response.
                    context.Abort();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void CopyTrailers(HttpContext context, HttpResponseMessage response)
    {
        var trailers = response.TrailingHeaders;
        if (!context.Response.SupportsTrailers())
        {
            return;
        }

        foreach (var trailer in trailers.NonValidated)
        {
            var values = trailer.Value;
            context.Response.AppendTrailer(trailer.Key, values.Count == 1 ? new StringValues(values.ToString()) : new StringValues([.. values]));
        }
    }

    private async Task ProxyUpgradeAsync(HttpContext context, ForwardContext forward, IHttpUpgradeFeature upgrade, HttpResponseMessage response)
    {
        var headers = context.Response.Headers;
        CopyHeaders(response.Headers, headers);
        headers.Upgrade = response.Headers.Upgrade.ToString();
        var upstream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
        Stream downstream;
        try
        {
            downstream = await upgrade.UpgradeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            Log.ResponseBodyFailed(logger, forward.Cluster.Name, forward.Host.Authority, ex.Message);
            return;
        }

        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var up = PumpAsync(downstream, upstream, done.Token);
        var down = PumpAsync(upstream, downstream, done.Token);
        await Task.WhenAny(up, down).ConfigureAwait(false);
        await done.CancelAsync().ConfigureAwait(false);
        await upstream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // One side closed; the tunnel is over.
        }
    }

    private static async Task PumpAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                await to.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private sealed class TimeoutArm(CancellationTokenSource cancellation, TimeSpan timeout)
    {
        public void Arm()
        {
            try
            {
                cancellation.CancelAfter(timeout);
            }
            catch (ObjectDisposedException)
            {
                // The request already finished.
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Debug, "Cluster {Cluster}: connect to {Host} failed: {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string cluster, string host, string reason);

        [LoggerMessage(11, LogLevel.Debug, "Cluster {Cluster}: upstream {Host} reset before headers: {Reason}")]
        public static partial void UpstreamReset(ILogger logger, string cluster, string host, string reason);

        [LoggerMessage(12, LogLevel.Debug, "Cluster {Cluster}: upstream {Host} response body failed: {Reason}")]
        public static partial void ResponseBodyFailed(ILogger logger, string cluster, string host, string reason);

        [LoggerMessage(13, LogLevel.Debug, "Cluster {Cluster}: retry {Retry} after {Host} answered {Status}")]
        public static partial void Retrying(ILogger logger, string cluster, string host, int retry, int status);
    }
}
