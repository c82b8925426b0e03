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

namespace SharpProxy.Core.Upstream;

/// <summary>
/// Sends one request to the chosen host through the worker's pool and streams the response back:
/// headers as soon as they arrive, the body chunk by chunk in both directions, trailers at the end.
/// Failures before the response started become Envoy-like local replies; after that the downstream stream is reset.
/// </summary>
internal sealed partial class HttpForwarder(ILogger logger)
{
    private const int BufferSize = 64 * 1024;

    public async Task ForwardAsync(HttpContext context, ForwardContext forward)
    {
        var cluster = forward.Cluster;
        var host = forward.Host;
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var isWebSocket = upgrade is { IsUpgradableRequest: true }
            && string.Equals(context.Request.Headers.Upgrade.ToString(), "websocket", StringComparison.OrdinalIgnoreCase);
        if (isWebSocket && !forward.AllowWebSocket)
        {
            await LocalReply.WriteAsync(context, StatusCodes.Status403Forbidden, ResponseFlags.UpgradeFailed, "upgrade not allowed").ConfigureAwait(false);
            return;
        }

        var bodyCompleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var request = CreateRequest(context, forward, isWebSocket, bodyCompleted);
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var timeout = forward.Timeout;
        if (timeout > TimeSpan.Zero)
        {
            if (request.Content is null || isWebSocket)
            {
                cancellation.CancelAfter(timeout);
            }
            else
            {
                // Envoy's route timeout runs from the end of the downstream request to the end of the response.
                _ = bodyCompleted.Task.ContinueWith(
                    static (_, state) => ((TimeoutArm)state!).Arm(),
                    new TimeoutArm(cancellation, timeout),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion,
                    TaskScheduler.Default);
            }
        }

        var log = context.Features.Get<RequestLogState>();
        if (log is not null)
        {
            log.UpstreamHost = host.Authority;
            log.UpstreamCluster = cluster.Name;
        }

        host.OnRequestStart();
        cluster.Stats.OnRequestStart();
        var status = 0;
        HttpResponseMessage? response = null;
        try
        {
            var pool = cluster.GetPool(forward.Worker);
            try
            {
                response = await pool.Invoker.SendAsync(request, cancellation.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                status = await ReplyToSendFailureAsync(context, forward, ex, cancellation).ConfigureAwait(false);
                return;
            }

            status = (int)response.StatusCode;
            if (isWebSocket && response.StatusCode == HttpStatusCode.SwitchingProtocols)
            {
                await ProxyUpgradeAsync(context, forward, upgrade!, response).ConfigureAwait(false);
                return;
            }

            CopyResponseHeaders(context, forward, response);
            await CopyResponseBodyAsync(context, forward, response, cancellation).ConfigureAwait(false);
        }
        finally
        {
            response?.Dispose();
            host.OnRequestEnd(status);
            cluster.Stats.OnRequestEnd(status == 0 ? 503 : status);
        }
    }

    private static HttpRequestMessage CreateRequest(HttpContext context, ForwardContext forward, bool isWebSocket, TaskCompletionSource bodyCompleted)
    {
        var downstream = context.Request;
        var target = forward.Query.Length == 0
            ? forward.Host.BaseUri + forward.Path
            : forward.Host.BaseUri + forward.Path + "?" + forward.Query;
        var request = new HttpRequestMessage(HttpMethodFor(downstream.Method), new Uri(target, UriKind.Absolute))
        {
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Version = isWebSocket ? HttpVersion.Version11 : UpstreamVersion(forward.Cluster.Config.Protocol, downstream.Protocol),
        };

        var bodyDetection = context.Features.Get<IHttpRequestBodyDetectionFeature>();
        if (bodyDetection?.CanHaveBody == true && !isWebSocket)
        {
            request.Content = new StreamingRequestContent(downstream.Body, bodyCompleted, context.Features.Get<RequestLogState>());
            if (downstream.ContentLength is { } length)
            {
                request.Content.Headers.ContentLength = length;
            }
        }
        else
        {
            bodyCompleted.TrySetResult();
        }

        var headers = downstream.Headers;
        var nominated = headers.Connection;
        foreach (var header in headers)
        {
            var name = header.Key;
            if (name.Length == 0 || name[0] == ':' || HeaderRules.IsHopByHop(name) || IsNominatedByConnection(nominated, name)
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

    private static bool IsNominatedByConnection(StringValues connection, string name)
    {
        if (StringValues.IsNullOrEmpty(connection))
        {
            return false;
        }

        foreach (var value in connection)
        {
            foreach (var token in (value ?? "").Split(','))
            {
                if (token.Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

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

    private async Task<int> ReplyToSendFailureAsync(HttpContext context, ForwardContext forward, Exception ex, CancellationTokenSource cancellation)
    {
        var cluster = forward.Cluster;
        if (context.RequestAborted.IsCancellationRequested || ex is DownstreamAbortedException || ex.InnerException is DownstreamAbortedException)
        {
            // The client left; there is nobody to answer.
            return 499;
        }

        if (ex is OperationCanceledException && cancellation.IsCancellationRequested)
        {
            cluster.Stats.OnTimeout();
            await LocalReply.WriteAsync(context, StatusCodes.Status504GatewayTimeout, ResponseFlags.UpstreamRequestTimeout, "upstream request timeout", forward.IsGrpc).ConfigureAwait(false);
            return StatusCodes.Status504GatewayTimeout;
        }

        if (IsConnectFailure(ex))
        {
            Log.ConnectFailed(logger, cluster.Name, forward.Host.Authority, ex.Message);
            await LocalReply.WriteAsync(
                context,
                StatusCodes.Status503ServiceUnavailable,
                ResponseFlags.UpstreamConnectionFailure,
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                forward.IsGrpc).ConfigureAwait(false);
            return StatusCodes.Status503ServiceUnavailable;
        }

        Log.UpstreamReset(logger, cluster.Name, forward.Host.Authority, ex.Message);
        await LocalReply.WriteAsync(
            context,
            StatusCodes.Status503ServiceUnavailable,
            ResponseFlags.UpstreamRemoteReset,
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            forward.IsGrpc).ConfigureAwait(false);
        return StatusCodes.Status503ServiceUnavailable;
    }

    private static bool IsConnectFailure(Exception ex)
    {
        if (ex is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError })
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

    private async Task CopyResponseBodyAsync(HttpContext context, ForwardContext forward, HttpResponseMessage response, CancellationTokenSource cancellation)
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

                Log.ResponseBodyFailed(logger, forward.Cluster.Name, forward.Host.Authority, ex.Message);
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
    }
}
