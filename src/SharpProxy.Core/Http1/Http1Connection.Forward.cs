using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Core.Transport;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Http1;

/// <summary>The request side of the fast path: route, pick, forward with retries, relay the response.</summary>
internal sealed partial class Http1Connection
{
    private const int CoalesceLimit = 16 * 1024;

    // The try in progress.
    private int _requestHeadLength;
    private int _bodyInBuffer;
    private long _bodyToStream;
    private int _tryStatus;
    private UpstreamFailure _tryFailure;
    private bool _timeoutIsRoute;
    private bool _downstreamFailed;
    private bool _streamedBody;
    private TimeSpan _routeTimeout;
    private TimeSpan? _perTryTimeout;

    private enum TryResult
    {
        Responded,
        RetryStatus,
        Failed,
        Overflow,
        ResponseBroken,
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<Next> ServeRequestAsync()
    {
        var snapshot = _owner.Snapshots.Current;
        var listener = snapshot.FindListener(_connection.ListenerName);
        if (listener is null || (uint)_connection.FilterChainIndex >= (uint)listener.Chains.Length)
        {
            return Next.HandOff;
        }

        var chain = listener.Chains[_connection.FilterChainIndex];
        if (chain.Http is not { } http || !Http1FastPath.Supports(http) || chain.Routes is not { } routes)
        {
            return Next.HandOff;
        }

        // The full pipeline normalizes dot segments and strips x-forwarded-client-cert (both rare in a request).
        if ((http.NormalizePath && !ReferenceEquals(PathNormalizer.RemoveDotSegments(_lastPath), _lastPath))
            || (http.SanitizeForwardedClientCert && _headers.ContainsKey("x-forwarded-client-cert")))
        {
            return Next.HandOff;
        }

        var authority = _headers.TryGetValue("host", out var host) ? host.ToString() : "";
        var match = routes.Match(new RouteRequest(authority, _lastPath, _lastQuery, _headers, false, _method, _socket.IsTls ? "https" : "http"));
        if (match.Route is null || match.VirtualHost is null || match.Route.Config.Forward is not { } action)
        {
            // No route, a direct response or a redirect: the full pipeline answers them.
            return Next.HandOff;
        }

        var route = match.Route.Config;
        var vhost = match.VirtualHost.Config;
        var table = routes.Config;
        if (FaultInjection.Effective(http, vhost, route) is { IsEmpty: false } || Cors.Applies(http, vhost, route))
        {
            return Next.HandOff;
        }

        ulong? hash = null;
        string? setCookie = null;
        if (!action.HashPolicies.IsDefaultOrEmpty)
        {
            hash = HashPolicyEvaluator.Compute(action.HashPolicies, _headers, _lastQuery, _connection.RemoteEndPoint, _connection.DestinationEndPoint, out setCookie);
        }

        WeightedClusterConfig? weighted = null;
        string clusterName;
        if (action.WeightedClusters is { } weightedClusters)
        {
            var value = weightedClusters.UseHashPolicy && hash is { } routeHash ? routeHash : _owner.Random.NextUInt64();
            var index = WeightedClusterPicker.Pick(weightedClusters, value);
            if (index < 0)
            {
                return Next.HandOff;
            }

            weighted = weightedClusters.Clusters[index];
            clusterName = weighted.Name;
        }
        else
        {
            clusterName = action.Cluster!;
        }

        var cluster = snapshot.FindCluster(clusterName);
        // The raw pools speak plaintext only: TLS clusters (transport_socket, transport_socket_matches) go through Kestrel.
        if (cluster is null || cluster.Config.Protocol == UpstreamProtocol.Http2 || cluster.Config.Tls is not null || !cluster.Config.TransportSocketMatches.IsDefaultOrEmpty)
        {
            if (cluster?.Config.Protocol == UpstreamProtocol.Http2 && _socket is Http2.Http2Stream stream)
            {
                // An HTTP/2 upstream's trailers cannot cross the HTTP/1.1 bridge to Kestrel: the client retries the
                // refused stream on a new connection, which Kestrel's HTTP/2 server takes.
                stream.RefuseForKestrel(_connection.ListenerName);
                return Next.Close;
            }

            return Next.HandOff;
        }

        // A request that may be retried keeps its body (up to Envoy's 1 MiB buffer limit): read it whole first.
        var policy = action.RetryPolicy ?? vhost.RetryPolicy;
        var bodyStart = _start + _headEnd;
        if (policy is not null && _contentLength > 0 && _contentLength <= MaxReplayBodyBytes && _end - bodyStart < _contentLength)
        {
            // A client that stops sending mid-body is let go after the idle timeout.
            _timer.CancelAfter(IdleTimeout);
            while (_end - bodyStart < _contentLength)
            {
                if (!await ReceiveAsync(_timer.Token).ConfigureAwait(false))
                {
                    return Next.Close;
                }

                bodyStart = _start + _headEnd;
            }

            ResetTimer();
        }

        // From here on this path serves the request.
        _owner.OnRequest();
        _log.Reset();
        _log.RouteName = route.Name;
        _responseHeadLength = 0;
        _generatedRequestId = null;
        _keepResponseHead = !http.AccessLogs.IsDefaultOrEmpty;
        _status = 0;
        _responseStarted = false;
        var httpStats = _owner.Stats.Http(http);
        httpStats.OnRequestStart();
        var next = Next.Continue;
        try
        {
            next = await ForwardAsync(http, table, vhost, route, action, weighted, cluster, policy, hash, setCookie, authority).ConfigureAwait(false);
        }
        finally
        {
            var code = _responseStarted ? _status : 0;
            var flags = _log.ResponseFlags ?? (_responseStarted ? ResponseFlags.None : ResponseFlags.DownstreamConnectionTermination);
            HttpRequestTelemetry.OnRequestEnd(_owner.Stats, code, flags, -1, _log.BytesSent, _log, httpStats, IstioLabelResolver.ReporterFor(listener.Config.Direction), isGrpc: false);
            if (!http.AccessLogs.IsDefaultOrEmpty)
            {
                WriteAccessLogs(http, code, _log.ResponseFlags ?? (_responseStarted ? null : ResponseFlags.DownstreamConnectionTermination));
            }
        }

        if (next == Next.Continue)
        {
            // The request's bytes are consumed; what follows in the buffer is the next (pipelined) request.
            if (_bodyToStream > 0)
            {
                // A complete response (a premature one, or a local reply) before the whole body: the connection closes,
                // and the client that may still be sending gets the delayed close.
                next = Next.Close;
                _lingerBeforeClose = !_downstreamFailed;
            }
            else if (_bodyInBuffer >= 0)
            {
                _start += _headEnd + _bodyInBuffer;
            }
        }

        return next;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<Next> ForwardAsync(
        HttpConnectionManagerConfig http, RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, RouteActionConfig action,
        WeightedClusterConfig? weighted, ClusterState cluster, RetryPolicyConfig? policy, ulong? hash, string? setCookie, string authority)
    {
        var host = cluster.IsOriginalDestination
            ? cluster.GetOriginalDestinationHost(_connection.DestinationEndPoint)
            : cluster.Balancer.Pick(_connection.Worker, hash, 0);
        _log.Cluster = cluster;
        _bodyInBuffer = (int)Math.Min(_end - _start - _headEnd, _contentLength);
        _streamedBody = false;
        _bodyToStream = _contentLength - _bodyInBuffer;
        if (host is null)
        {
            cluster.Stats.OnNoHealthyUpstream();
            return await LocalReplyAsync(503, ResponseFlags.NoHealthyUpstream, "no healthy upstream").ConfigureAwait(false);
        }

        HeaderMutator.ApplyRequest(_headers, table, vhost, route, weighted);
        var path = action.PrefixRewrite is { } prefixRewrite ? PathRewriter.RewritePrefix(_lastPath, route.Match, prefixRewrite) : _lastPath;
        var forwardAuthority = weighted?.HostRewriteLiteral ?? action.HostRewriteLiteral ?? authority;
        _requestHeadLength = WriteRequestHead(http, path, _lastQuery, forwardAuthority);
        _log.BytesReceived = _bodyInBuffer;

        var replayable = _bodyToStream == 0;
        _routeTimeout = action.Timeout;
        _perTryTimeout = policy?.PerTryTimeout;
        // One clock read for the route deadline, the first try's timer and (no body to stream) the request's end.
        var forwardStart = Stopwatch.GetTimestamp();
        if (_bodyToStream == 0 && _log.RequestEndTimestamp == 0)
        {
            _log.RequestEndTimestamp = forwardStart;
        }

        var routeDeadline = DeadlineAfter(_routeTimeout, forwardStart);
        var responseMutations = setCookie is not null || HasResponseMutations(table, vhost, route, weighted);
        RetryHosts tried = default;
        var retriesHeld = 0;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                _log.UpstreamHost = host.Authority;
                _log.UpstreamCluster = cluster.Name;
                _log.Host = host;
                if (!cluster.Resources.TryAcquireRequest())
                {
                    cluster.Stats.OnPendingOverflow();
                    return await LocalReplyAsync(503, ResponseFlags.UpstreamOverflow, HttpForwarder.OverflowBody).ConfigureAwait(false);
                }

                host.OnRequestStart();
                cluster.Stats.OnRequestStart();
                _log.UpstreamAttempts++;
                var canRetry = policy is not null && replayable && attempt < policy.NumRetries;
                var result = TryResult.Failed;
                _tryStatus = 0;
                try
                {
                    if (_bodyToStream > 0)
                    {
                        // Envoy's timeouts start once the request is complete: until the body has been streamed, only
                        // the idle timeout bounds a stalled client (SendRequestAsync arms the route timeout after it).
                        _timer.CancelAfter(IdleTimeout);
                    }
                    else
                    {
                        ArmTimer(routeDeadline, _perTryTimeout, attempt == 0 ? forwardStart : Stopwatch.GetTimestamp());
                    }

                    result = await TryOnceAsync(cluster, host, policy, canRetry, setCookie, responseMutations, table, vhost, route, weighted).ConfigureAwait(false);
                }
                finally
                {
                    ResetTimer();
                    var status = result switch
                    {
                        TryResult.Responded or TryResult.RetryStatus or TryResult.ResponseBroken => _tryStatus,
                        TryResult.Overflow => 503,
                        _ => HttpForwarder.StatusFor(_tryFailure),
                    };
                    if (cluster.Outlier is { } outlier && result != TryResult.Overflow && status != 499)
                    {
                        outlier.ReportStatus(host, status);
                    }

                    host.OnRequestEnd(status);
                    cluster.Stats.OnRequestEnd(status);
                    cluster.Resources.ReleaseRequest();
                    if (attempt > 0)
                    {
                        cluster.ReleaseRetry();
                        retriesHeld--;
                    }
                }

                switch (result)
                {
                    case TryResult.Responded:
                        return Next.Continue;
                    case TryResult.ResponseBroken:
                        return Next.Close;
                    case TryResult.Overflow:
                        return await LocalReplyAsync(503, ResponseFlags.UpstreamOverflow, HttpForwarder.OverflowBody).ConfigureAwait(false);
                }

                var retryOverflow = false;
                if (result == TryResult.Failed)
                {
                    if (_tryFailure == UpstreamFailure.DownstreamAborted)
                    {
                        return Next.Close;
                    }

                    var retriable = policy is not null && RetryRules.ShouldRetry(policy, _tryFailure);
                    if (!(retriable && canRetry && HttpForwarder.AcquireRetry(cluster, ref retriesHeld, ref retryOverflow)))
                    {
                        return await ReplyToFailureAsync(cluster, host, _tryFailure, retriable && !retryOverflow, retryOverflow).ConfigureAwait(false);
                    }
                }
                else
                {
                    // RetryStatus: the try already took the max_retries slot.
                    retriesHeld++;
                }

                cluster.Stats.OnRetry();
                var delay = HttpForwarder.BackOffDelay(policy!, attempt);
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), routeDeadline);
                if (routeDeadline != long.MaxValue && remaining <= delay)
                {
                    if (remaining > TimeSpan.Zero)
                    {
                        await Task.Delay(remaining).ConfigureAwait(false);
                    }

                    cluster.Stats.OnTimeout();
                    return await LocalReplyAsync(504, ResponseFlags.UpstreamRequestTimeout, "upstream request timeout").ConfigureAwait(false);
                }

                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay).ConfigureAwait(false);
                }

                tried.Add(host);
                var nextHost = HttpForwarder.PickRetryHost(cluster, host, _connection.Worker, hash, policy!, ref tried);
                if (nextHost is null)
                {
                    cluster.Stats.OnNoHealthyUpstream();
                    return await LocalReplyAsync(503, ResponseFlags.NoHealthyUpstream, "no healthy upstream").ConfigureAwait(false);
                }

                host = nextHost;
            }
        }
        finally
        {
            for (; retriesHeld > 0; retriesHeld--)
            {
                cluster.ReleaseRetry();
            }
        }
    }

    private static long DeadlineAfter(TimeSpan timeout, long now) =>
        timeout > TimeSpan.Zero ? now + (long)(timeout.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;

    private void ArmTimer(long routeDeadline, TimeSpan? perTry, long now)
    {
        var routeRemaining = routeDeadline == long.MaxValue ? Timeout.InfiniteTimeSpan : Stopwatch.GetElapsedTime(now, routeDeadline);
        if (routeRemaining != Timeout.InfiniteTimeSpan && routeRemaining < TimeSpan.FromMilliseconds(1))
        {
            routeRemaining = TimeSpan.FromMilliseconds(1);
        }

        if (perTry is { } tryTimeout && tryTimeout > TimeSpan.Zero && (routeRemaining == Timeout.InfiniteTimeSpan || tryTimeout < routeRemaining))
        {
            _timeoutIsRoute = false;
            _timer.CancelAfter(tryTimeout);
        }
        else if (routeRemaining != Timeout.InfiniteTimeSpan)
        {
            _timeoutIsRoute = true;
            _timer.CancelAfter(routeRemaining);
        }
    }

    private static bool HasResponseMutations(RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted) =>
        HasResponseLevel(table.Headers) || HasResponseLevel(vhost.Headers) || HasResponseLevel(route.Headers) || (weighted is not null && HasResponseLevel(weighted.Headers));

    private static bool HasResponseLevel(HeaderMutationConfig headers) =>
        !headers.ResponseHeadersToAdd.IsDefaultOrEmpty || !headers.ResponseHeadersToRemove.IsDefaultOrEmpty;

    /// <summary>One try: connection, request, response head; the response is relayed unless it is to be retried.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<TryResult> TryOnceAsync(
        ClusterState cluster, HostState host, RetryPolicyConfig? policy, bool canRetry, string? setCookie, bool responseMutations,
        RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        var pool = cluster.GetHttp1Pool(_connection.Worker);
        Http1UpstreamConnection? upstream = null;
        var keepUpstream = false;
        var phase = 0;
        _downstreamFailed = false;
        _pumpDownstreamFailed = false;
        try
        {
            for (var fresh = 0; ; fresh++)
            {
                upstream = fresh == 0 ? pool.TryTakeIdle(host) : null;
                var reused = upstream is not null;
                phase = 0;
                upstream ??= await pool.AcquireAsync(host, _socket.Loop, _timer.Token).ConfigureAwait(false);
                phase = 1;
                upstream.Requests++;
                var answered = await SendRequestAsync(upstream).ConfigureAwait(false);
                if (answered)
                {
                    // The first response bytes are awaited here, not inside ReadResponseHeadAsync (which then usually
                    // finds the whole head and completes at once): a request waiting for its upstream suspends one
                    // async method fewer.
                    var received = 0;
                    if (upstream.Start == upstream.End)
                    {
                        upstream.Start = upstream.End = 0;
                        var read = await upstream.Socket.ReceiveAsync(upstream.Buffer.AsMemory(), _timer.Token).ConfigureAwait(false);
                        answered = TakeUpstreamRead(upstream, read, ref received);
                    }

                    answered = answered && await ReadResponseHeadAsync(upstream, received).ConfigureAwait(false);
                }

                if (answered)
                {
                    break;
                }

                // A reused connection the upstream had closed before it saw this request: once more on a new one, as
                // HttpClient does; a new connection that closes without answering is a reset.
                await StopPumpAsync().ConfigureAwait(false);
                upstream.Close();
                upstream = null;
                if (!reused || fresh > 0 || _streamedBody)
                {
                    _tryFailure = UpstreamFailure.Reset;
                    return TryResult.Failed;
                }
            }

            var head = upstream.Buffer.AsSpan(upstream.Start, _upstreamHeadEnd);
            _tryStatus = _upstreamStatus;
            // A response to retry is dropped only when max_retries grants the retry; otherwise it is forwarded, as Envoy does.
            if (canRetry && RetryRules.ShouldRetry(policy!, _upstreamStatus, HasUpstreamHeader(head, "x-envoy-overloaded"u8), HasUpstreamHeader(head, "x-envoy-ratelimited"u8), -1)
                && cluster.TryAcquireRetry())
            {
                return TryResult.RetryStatus;
            }

            phase = 2;
            var reusable = await RelayResponseAsync(upstream, setCookie, responseMutations, table, vhost, route, weighted).ConfigureAwait(false);
            if (_pumping)
            {
                // An upstream connection that did not carry the whole body is not reused (Envoy resets that stream).
                reusable = await FinishPumpAsync().ConfigureAwait(false) && reusable;
            }

            keepUpstream = reusable;
            return TryResult.Responded;
        }
        catch (UpstreamOverflowException)
        {
            return TryResult.Overflow;
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException or InvalidDataException)
        {
            // A body pump still running is stopped and joined first: whether the client failed is known only then.
            await StopPumpAsync().ConfigureAwait(false);
            if (ex is OperationCanceledException && _streamedBody && Volatile.Read(ref _bodyToStream) > 0)
            {
                // Until the whole body has arrived only the idle timeout runs: the client stalled mid-body (the relay's
                // wait may have seen the cancellation before the pump's).
                _downstreamFailed = true;
                _pumpDownstreamFailed = true;
            }

            if (_responseStarted)
            {
                if (_pumpDownstreamFailed)
                {
                    // The client went away mid-body while the response was relayed (Envoy: DC).
                    _log.ResponseFlags ??= ResponseFlags.DownstreamConnectionTermination;
                }

                // The response had started: Envoy resets the downstream stream; for HTTP/1.1 that is closing the connection.
                if (!_downstreamFailed)
                {
                    if (ex is OperationCanceledException)
                    {
                        cluster.Stats.OnTimeout();
                    }

                    Log.UpstreamFailed(_owner.Logger, cluster.Name, host.Authority, UpstreamFailure.Reset);
                }

                return TryResult.ResponseBroken;
            }

            _tryFailure = _downstreamFailed ? UpstreamFailure.DownstreamAborted
                : ex is OperationCanceledException ? (_timeoutIsRoute ? UpstreamFailure.RouteTimeout : UpstreamFailure.PerTryTimeout)
                : ex is InvalidDataException ? UpstreamFailure.Reset
                : phase == 0 ? UpstreamFailure.ConnectFailure
                : UpstreamFailure.Reset;
            Log.UpstreamFailed(_owner.Logger, cluster.Name, host.Authority, _tryFailure);
            return TryResult.Failed;
        }
        finally
        {
            // Joined on every path above; an unexpected exception (a bug) must not leave the pump using the connection.
            if (_pumping)
            {
                await StopPumpAsync().ConfigureAwait(false);
            }

            if (upstream is not null)
            {
                if (keepUpstream)
                {
                    pool.Return(upstream);
                }
                else
                {
                    upstream.Close();
                }
            }
        }
    }

    /// <summary>
    /// Sends the request head and the body read so far; the rest of a body is pumped while the response is read (see
    /// Http1Connection.Duplex.cs). False when a reused connection turned out closed before any byte left.
    /// </summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> SendRequestAsync(Http1UpstreamConnection upstream)
    {
        try
        {
            await SendRequestHeadAndBufferedBodyAsync(upstream.Socket).ConfigureAwait(false);
        }
        catch (SocketException) when (upstream.Requests > 1)
        {
            // Reused and found closed (EPIPE, ECONNRESET): not a failure of this request.
            return false;
        }

        if (_bodyToStream > 0)
        {
            _streamedBody = true;
            StartPump(upstream);
        }
        else if (_log.RequestEndTimestamp == 0)
        {
            _log.RequestEndTimestamp = Stopwatch.GetTimestamp();
        }

        return true;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask SendRequestHeadAndBufferedBodyAsync(LoopSocket socket)
    {
        var bodyStart = _start + _headEnd;
        if (_bodyInBuffer > 0 && _requestHeadLength + _bodyInBuffer <= _out.Length && _bodyInBuffer <= CoalesceLimit)
        {
            // Head and body in one send.
            Buffer.BlockCopy(_buffer, bodyStart, _out, _requestHeadLength, _bodyInBuffer);
            await socket.SendAsync(_out.AsMemory(0, _requestHeadLength + _bodyInBuffer)).ConfigureAwait(false);
        }
        else
        {
            await socket.SendAsync(_out.AsMemory(0, _requestHeadLength)).ConfigureAwait(false);
            if (_bodyInBuffer > 0)
            {
                await socket.SendAsync(_buffer.AsMemory(bodyStart, _bodyInBuffer)).ConfigureAwait(false);
            }
        }
    }

    private static bool HasUpstreamHeader(ReadOnlySpan<byte> head, ReadOnlySpan<byte> name)
    {
        var marker = head.IndexOf(name);
        while (marker > 0)
        {
            if (head[marker - 1] == (byte)'\n' && marker + name.Length < head.Length && head[marker + name.Length] == (byte)':')
            {
                return true;
            }

            var next = head[(marker + 1)..].IndexOf(name);
            marker = next < 0 ? -1 : marker + 1 + next;
        }

        return false;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<Next> ReplyToFailureAsync(ClusterState cluster, HostState host, UpstreamFailure failure, bool retriesExhausted, bool retryOverflow)
    {
        switch (failure)
        {
            case UpstreamFailure.RouteTimeout:
            case UpstreamFailure.PerTryTimeout:
                cluster.Stats.OnTimeout();
                return await LocalReplyAsync(
                    504,
                    HttpForwarder.WithRetryLimit(ResponseFlags.UpstreamRequestTimeout, retriesExhausted && failure == UpstreamFailure.PerTryTimeout, retryOverflow),
                    "upstream request timeout").ConfigureAwait(false);
            case UpstreamFailure.ConnectFailure:
                return await LocalReplyAsync(
                    503,
                    HttpForwarder.WithRetryLimit(ResponseFlags.UpstreamConnectionFailure, retriesExhausted, retryOverflow),
                    "upstream connect error or disconnect/reset before headers. reset reason: connection failure").ConfigureAwait(false);
            default:
                return await LocalReplyAsync(
                    503,
                    HttpForwarder.WithRetryLimit(ResponseFlags.UpstreamRemoteReset, retriesExhausted, retryOverflow),
                    "upstream connect error or disconnect/reset before headers. reset reason: connection termination").ConfigureAwait(false);
        }
    }

    /// <summary>An Envoy-shaped local reply (status, flag header, text body); the connection stays open unless the client asked.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<Next> LocalReplyAsync(int status, string flags, string body)
    {
        _log.ResponseFlags = flags;
        if (_responseStarted)
        {
            return Next.Close;
        }

        _closeAfterResponse |= _owner.Draining;

        // Written over the request head: no try follows a local reply.
        var writer = new AsciiWriter(_out, 0);
        writer.StatusLine(status);
        writer.Header("x-sharpproxy-response-flags"u8, flags);
        writer.Header("content-type"u8, "text/plain");
        writer.Header("content-length"u8, body.Length);
        writer.Header("date"u8, DateHeader.Current);
        if (_closeAfterResponse || _bodyToStream > 0)
        {
            writer.Raw("connection: close\r\n"u8);
        }

        writer.Raw("\r\n"u8);
        writer.Ascii(body);
        _out = writer.Buffer;
        _status = status;
        _responseStarted = true;
        try
        {
            await _socket.SendAsync(_out.AsMemory(0, writer.Length)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return Next.Close;
        }

        _log.BytesSent = body.Length;

        // A body still unread: ServeRequestAsync closes the connection (after the delayed close).
        return Next.Continue;
    }

    /// <summary>A protocol error answered before any routing (400 bad request, 431 head too large), then the connection closes.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask WriteErrorAndCloseAsync(int status, string body)
    {
        var writer = new AsciiWriter(_out, 0);
        writer.StatusLine(status);
        writer.Header("content-type"u8, "text/plain");
        writer.Header("content-length"u8, body.Length);
        writer.Header("date"u8, DateHeader.Current);
        writer.Raw("connection: close\r\n\r\n"u8);
        writer.Ascii(body);
        _out = writer.Buffer;
        try
        {
            await _socket.SendAsync(_out.AsMemory(0, writer.Length)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The client is gone already.
        }

        CloseSocket();
    }

    /// <summary>Writes the upstream request head into _out[0..]; returns its length.</summary>
    private int WriteRequestHead(HttpConnectionManagerConfig http, string path, string query, string authority)
    {
        var writer = new AsciiWriter(_out, 0);
        writer.Latin1(_method);
        writer.Raw(" "u8);
        writer.Latin1(path);
        if (query.Length > 0)
        {
            writer.Raw("?"u8);
            writer.Latin1(query);
        }

        writer.Raw(" HTTP/1.1\r\nhost: "u8);
        writer.Latin1(authority);
        writer.Raw("\r\n"u8);
        // One pass classifies every name once (a switch on its length, no hashing) and finds the headers the rules
        // below depend on; the second pass writes the ones that cross.
        var headers = _headers;
        var count = headers.Count;
        Span<RequestHeaderKind> kinds = count <= 128 ? stackalloc RequestHeaderKind[count] : new RequestHeaderKind[count];
        var connectionAt = -1;
        var forwardedForAt = -1;
        var hasRequestId = false;
        var hasForwardedProto = false;
        var hasContentLength = false;
        for (var i = 0; i < count; i++)
        {
            var kind = kinds[i] = ClassifyRequestHeader(headers.NameAt(i));
            switch (kind)
            {
                case RequestHeaderKind.Connection:
                    connectionAt = i;
                    break;
                case RequestHeaderKind.RequestId:
                    hasRequestId = true;
                    break;
                case RequestHeaderKind.ForwardedFor:
                    forwardedForAt = i;
                    break;
                case RequestHeaderKind.ForwardedProto:
                    hasForwardedProto = true;
                    break;
                case RequestHeaderKind.ContentLength:
                    hasContentLength = true;
                    break;
            }
        }

        var connectionValue = connectionAt >= 0 ? headers.ValuesAt(connectionAt).ToString() : null;
        var replaceRequestId = http.GenerateRequestId && (!hasRequestId || (http.UseRemoteAddress && !http.PreserveExternalRequestId));

        string? forwardedFor = null;
        var addForwardedProto = false;
        if (http.UseRemoteAddress)
        {
            addForwardedProto = true;
            if (!http.SkipXffAppend && _connection.RemoteEndPoint is { } remote)
            {
                var existing = forwardedForAt >= 0 ? headers.ValuesAt(forwardedForAt).ToString() : "";
                var address = (remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address).ToString();
                forwardedFor = existing.Length == 0 ? address : existing + "," + address;
            }
        }
        else if (!hasForwardedProto)
        {
            addForwardedProto = true;
        }

        for (var i = 0; i < count; i++)
        {
            var skip = kinds[i] switch
            {
                RequestHeaderKind.Dropped or RequestHeaderKind.Connection or RequestHeaderKind.ContentLength => true,
                RequestHeaderKind.RequestId => replaceRequestId,
                RequestHeaderKind.ForwardedProto => http.UseRemoteAddress,
                RequestHeaderKind.ForwardedFor => forwardedFor is not null,
                _ => false,
            };
            var name = headers.NameAt(i);
            if (skip || (connectionValue is not null && HeaderRules.IsNominatedBy(connectionValue, name)))
            {
                continue;
            }

            foreach (var value in headers.ValuesAt(i))
            {
                writer.Header(name, value ?? "");
            }
        }

        if (_teTrailers)
        {
            writer.Raw("te: trailers\r\n"u8);
        }

        if (addForwardedProto)
        {
            writer.Raw(_socket.IsTls ? "x-forwarded-proto: https\r\n"u8 : "x-forwarded-proto: http\r\n"u8);
        }

        if (forwardedFor is not null)
        {
            writer.Header("x-forwarded-for"u8, forwardedFor);
        }

        if (replaceRequestId)
        {
            writer.Raw("x-request-id: "u8);
            var idStart = writer.Length;
            writer.Uuid4();
            if (!http.AccessLogs.IsDefaultOrEmpty)
            {
                // The access log prints the id the upstream saw (a string only when a log asks for it).
                _generatedRequestId = Encoding.ASCII.GetString(writer.Buffer, idStart, writer.Length - idStart);
            }

            writer.Raw("\r\n"u8);
        }

        if (_contentLength > 0 || hasContentLength)
        {
            writer.Header("content-length"u8, _contentLength);
        }

        writer.Raw("\r\n"u8);
        _out = writer.Buffer;
        return writer.Length;
    }

    /// <summary>
    /// What WriteRequestHead does with a request header, by name: hop-by-hop headers (<see cref="HeaderRules.IsHopByHop(string)"/>),
    /// the Host (re-written from the authority), Content-Length (re-written from the parsed length), pseudo-headers and
    /// empty names are dropped; the others the rules look at are told apart. Reference comparisons first: the parser's
    /// names are the interned literals of KnownHeaderName.
    /// </summary>
    private static RequestHeaderKind ClassifyRequestHeader(string name) => name.Length switch
    {
        0 => RequestHeaderKind.Dropped,
        _ when name[0] == ':' => RequestHeaderKind.Dropped,
        4 when Is(name, "host") => RequestHeaderKind.Dropped,
        10 when Is(name, "connection") => RequestHeaderKind.Connection,
        12 when Is(name, "x-request-id") => RequestHeaderKind.RequestId,
        14 when Is(name, "content-length") => RequestHeaderKind.ContentLength,
        15 when Is(name, "x-forwarded-for") => RequestHeaderKind.ForwardedFor,
        17 when Is(name, "x-forwarded-proto") => RequestHeaderKind.ForwardedProto,
        _ => HeaderRules.IsHopByHop(name) ? RequestHeaderKind.Dropped : RequestHeaderKind.Forwarded,
    };

    private static bool Is(string name, string literal) =>
        ReferenceEquals(name, literal) || string.Equals(name, literal, StringComparison.OrdinalIgnoreCase);

    private enum RequestHeaderKind : byte
    {
        Forwarded,
        Dropped,
        Connection,
        ContentLength,
        RequestId,
        ForwardedFor,
        ForwardedProto,
    }
}

/// <summary>Writes an HTTP/1.1 head into a pooled buffer, growing it when needed.</summary>
internal ref struct AsciiWriter(byte[] buffer, int start)
{
    public byte[] Buffer = buffer;
    public int Length = start;

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(Buffer.AsSpan(Length));
        Length += bytes.Length;
    }

    public void Latin1(string value)
    {
        Ensure(value.Length);
        Length += Encoding.Latin1.GetBytes(value, Buffer.AsSpan(Length));
    }

    public void Ascii(string value) => Latin1(value);

    public void Number(long value)
    {
        Ensure(20);
        value.TryFormat(Buffer.AsSpan(Length), out var written, default, CultureInfo.InvariantCulture);
        Length += written;
    }

    /// <summary>
    /// A random (version 4) UUID like Envoy's x-request-id, from <see cref="Random.Shared"/>: request ids need to be
    /// unique, not secret, and Guid.NewGuid costs a getrandom(2) system call per request.
    /// </summary>
    public void Uuid4()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        Ensure(36);
        new Guid(bytes).TryFormat(Buffer.AsSpan(Length), out var written);
        Length += written;
    }

    public void Header(string name, string value)
    {
        Latin1(name);
        Raw(": "u8);
        Latin1(value);
        Raw("\r\n"u8);
    }

    public void Header(ReadOnlySpan<byte> name, string value)
    {
        Raw(name);
        Raw(": "u8);
        Latin1(value);
        Raw("\r\n"u8);
    }

    public void Header(ReadOnlySpan<byte> name, long value)
    {
        Raw(name);
        Raw(": "u8);
        Number(value);
        Raw("\r\n"u8);
    }

    public void StatusLine(int status)
    {
        Raw("HTTP/1.1 "u8);
        Number(status);
        Raw(" "u8);
        Raw(ReasonPhraseCache.For(status));
        Raw("\r\n"u8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int count)
    {
        if (Length + count > Buffer.Length)
        {
            Grow(count);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(Buffer.Length * 2, Length + count));
        Buffer.AsSpan(0, Length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(Buffer);
        Buffer = larger;
    }
}

/// <summary>Standard reason phrases as bytes, encoded once per status code.</summary>
internal static class ReasonPhraseCache
{
    private static readonly byte[]?[] Phrases = new byte[600][];

    public static ReadOnlySpan<byte> For(int status)
    {
        if ((uint)status >= (uint)Phrases.Length)
        {
            return "Unknown"u8;
        }

        return Phrases[status] ??= Encoding.ASCII.GetBytes(ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "Unknown");
    }
}

/// <summary>The Date header value, formatted at most once per second.</summary>
internal static class DateHeader
{
    private static string s_value = "";
    private static long s_second = -1;

    public static string Current
    {
        get
        {
            var now = DateTimeOffset.UtcNow;
            var second = now.ToUnixTimeSeconds();
            if (second != Volatile.Read(ref s_second))
            {
                Volatile.Write(ref s_value, now.ToString("r", CultureInfo.InvariantCulture));
                Volatile.Write(ref s_second, second);
            }

            return Volatile.Read(ref s_value);
        }
    }
}
