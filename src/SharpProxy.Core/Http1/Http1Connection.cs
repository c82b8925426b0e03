using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Telemetry;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Core.Transport;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Http1;

/// <summary>
/// One downstream HTTP/1.1 connection on the fast path: read a request head, route it with the same compiled tables
/// as the full pipeline, forward it on a pooled raw upstream connection, relay the response, repeat. All per-request
/// state lives in this object and is reused, so a steady keep-alive connection allocates nothing per request.
/// </summary>
/// <remarks>
/// Semantics follow <see cref="Pipeline.ProxyPipeline"/> and <see cref="HttpForwarder"/> (routing, weighted and
/// sticky clusters, hash policies, header mutations, retries and back-off, route and per-try timeouts, circuit
/// breakers, outlier detection, metrics, local replies). What the fast path does not do — HTTP/1.0, chunked or
/// expect-continue request bodies, upgrades, gRPC, faults, direct responses and redirects, no route, HTTP/2
/// upstreams, access logs — it leaves to Kestrel by handing the connection over before anything of the request
/// has been acted on.
/// </remarks>
internal sealed partial class Http1Connection
{
    private const int InitialBufferSize = 8 * 1024;
    private const int MaxReplayBodyBytes = 1024 * 1024;
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(300);

    private readonly Http1FastPath _owner;
    private IByteTransport _socket;
    private readonly ProxyConnectionFeature _connection;
    private readonly bool _sniffHttp2;
    private readonly FlatHeaderDictionary _headers = new();
    private readonly FlatHeaderDictionary _responseHeaders = new();
    private readonly RequestLogState _log = new();
    private readonly HeaderSpan[] _spans = new HeaderSpan[Http1Parser.MaxHeaders];
    private readonly HeaderSpan[] _upstreamSpans = new HeaderSpan[Http1Parser.MaxHeaders];
    private readonly string?[] _nameCache = new string?[Http1Parser.MaxHeaders];
    private readonly string?[] _valueCache = new string?[Http1Parser.MaxHeaders];
    private readonly LoopDeadline _timer;
    private byte[] _buffer;
    private byte[] _out;
    private int _start;
    private int _end;
    private string? _lastTarget;
    private string _lastPath = "";
    private string _lastQuery = "";

    // The request being served.
    private string _method = "";
    private int _headEnd;
    private int _headerCount;
    private long _contentLength;
    private bool _closeAfterResponse;
    private bool _teTrailers;
    private int _status;
    private bool _responseStarted;
    private volatile bool _idle;

    private Http1Connection(Http1FastPath owner, IByteTransport socket, ProxyConnectionFeature connection, bool sniffHttp2)
    {
        _owner = owner;
        _socket = socket;
        _connection = connection;
        _sniffHttp2 = sniffHttp2;
        _timer = new LoopDeadline(socket.Loop);
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
        _out = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    }

    private enum Next
    {
        Continue,
        Close,
        HandOff,
    }

    /// <summary>
    /// Serves the connection until it closes, or hands it to Kestrel. Returns the Kestrel connection when handed off
    /// (it then owns the socket), null when the fast path closed the socket itself.
    /// </summary>
    public static async Task<KestrelHandoff?> RunAsync(Http1FastPath owner, IByteTransport socket, ProxyConnectionFeature connection, bool sniffHttp2)
    {
        var served = new Http1Connection(owner, socket, connection, sniffHttp2);
        owner.Register(served);
        KestrelHandoff? handedOff = null;
        try
        {
            handedOff = await served.ServeAsync().ConfigureAwait(false);
            return handedOff;
        }
        finally
        {
            if (handedOff is null)
            {
                // Whichever way the connection ended (client closed, error, protocol error), the socket is closed here.
                served.CloseSocket();
            }

            owner.Unregister(served);
            served.Release();
        }
    }

    /// <summary>A connection object for the streams of one HTTP/2 connection, reused stream after stream (see <see cref="ServeStreamAsync"/>).</summary>
    internal static Http1Connection ForStreams(Http1FastPath owner, IByteTransport firstStream, ProxyConnectionFeature connection) =>
        new(owner, firstStream, connection, sniffHttp2: false);

    /// <summary>
    /// Serves one HTTP/2 stream seen as an HTTP/1.1 connection, like <see cref="RunAsync"/>, but keeps this object's
    /// buffers for the next stream: an HTTP/2 connection's streams reuse a few of these instead of allocating per request.
    /// The caller closes the stream when the result is null (not handed to Kestrel), as <see cref="RunAsync"/> does for
    /// a connection: no async wrapper here, so a stream waiting for its upstream suspends one async method fewer.
    /// </summary>
    internal ValueTask<KestrelHandoff?> ServeStreamAsync(IByteTransport stream)
    {
        _socket = stream;
        _start = _end = 0;
        _idle = false;
        ResetTimer();

        // Not in the drain registry: the HTTP/2 connection is, and drains its streams with GOAWAY.
        return ServeAsync();
    }

    /// <summary>Returns the buffers (an HTTP/2 connection's pooled stream connections, when it closes).</summary>
    internal void ReleaseForStreams() => Release();

    /// <summary>The proxy drains: a connection waiting for its next request closes now.</summary>
    internal void OnDrain()
    {
        if (!_idle)
        {
            return;
        }

        try
        {
            _timer.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Between requests the timer is replaced; the draining flag is seen before the next wait.
        }
    }

    private void Release()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        ArrayPool<byte>.Shared.Return(_out);
        ReleaseAccessLogBuffers();
        _timer.Dispose();
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<KestrelHandoff?> ServeAsync()
    {
        var first = true;
        try
        {
            while (true)
            {
                // 1. A complete request head (or the HTTP/2 preface on a codec AUTO listener).
                _idle = true;
                if (_owner.Draining && _start == _end)
                {
                    CloseSocket();
                    return null;
                }

                _timer.CancelAfter(IdleTimeout);
                int headEnd;
                while (true)
                {
                    if (first && _sniffHttp2)
                    {
                        var verdict = Http2Preface.Classify(new ReadOnlySequence<byte>(_buffer, _start, _end - _start));
                        if (verdict == Http2Preface.Verdict.Http2)
                        {
                            return HandOff(ListenerManager.Http2Endpoint);
                        }

                        if (verdict == Http2Preface.Verdict.NeedMoreData)
                        {
                            if (!await ReceiveAsync(_timer.Token).ConfigureAwait(false))
                            {
                                return null;
                            }

                            continue;
                        }
                    }

                    headEnd = Http1Parser.FindHeadEnd(_buffer.AsSpan(_start, _end - _start));
                    if (headEnd >= 0)
                    {
                        break;
                    }

                    if (_end - _start >= Http1Parser.MaxHeadBytes)
                    {
                        await WriteErrorAndCloseAsync(431, "Request Header Fields Too Large").ConfigureAwait(false);
                        return null;
                    }

                    // The receive is awaited here rather than through ReceiveAsync: a connection waiting for its next
                    // request then suspends one async method, not two.
                    if (!EndReceive(await _socket.ReceiveAsync(StartReceive(), _timer.Token).ConfigureAwait(false)))
                    {
                        return null;
                    }
                }

                first = false;
                _idle = false;
                ResetTimer();

                // 2. Parse it; decide whether this path serves it.
                var verdictForHead = ParseHead(headEnd);
                if (verdictForHead == Next.Close)
                {
                    await WriteErrorAndCloseAsync(400, "Bad Request").ConfigureAwait(false);
                    return null;
                }

                if (verdictForHead == Next.HandOff)
                {
                    return HandOff(ListenerManager.Http1Endpoint);
                }

                var next = await ServeRequestAsync().ConfigureAwait(false);
                ResetTimer();
                if (next == Next.HandOff)
                {
                    return HandOff(ListenerManager.Http1Endpoint);
                }

                if (next == Next.Close || _closeAfterResponse)
                {
                    if (_lingerBeforeClose)
                    {
                        await DiscardUnreadBodyAsync().ConfigureAwait(false);
                    }

                    CloseSocket();
                    return null;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The client left or went idle too long.
            CloseSocket();
            return null;
        }
        catch (Exception ex)
        {
            Log.Failed(_owner.Logger, ex);
            CloseSocket();
            return null;
        }
    }

    private KestrelHandoff? HandOff(string endpoint)
    {
        Log.HandedOff(_owner.Logger, _connection.ListenerName);
        _owner.OnHandOff();
        return KestrelHandoff.TryDispatch(_owner.Transport, endpoint, _socket.ForKestrel(), _buffer.AsSpan(_start, _end - _start), _connection, out var handoff)
            ? handoff
            : null;
    }

    private void CloseSocket()
    {
        _socket.Shutdown();
        _socket.Dispose();
    }

    private void ResetTimer() => _timer.Reset();

    /// <summary>Reads more request bytes after [_start, _end), compacting or growing the buffer. False at end of stream.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> ReceiveAsync(CancellationToken cancellationToken) =>
        EndReceive(await _socket.ReceiveAsync(StartReceive(), cancellationToken).ConfigureAwait(false));

    /// <summary>Room after [_start, _end) for the next read, compacting or growing the buffer first.</summary>
    private Memory<byte> StartReceive()
    {
        if (_start > 0 && _start == _end)
        {
            _start = _end = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                Buffer.BlockCopy(_buffer, 0, larger, 0, _end);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
        }

        return _buffer.AsMemory(_end);
    }

    /// <summary>Takes in what a read after <see cref="StartReceive"/> brought; false at end of stream.</summary>
    private bool EndReceive(int read)
    {
        if (read == 0)
        {
            return false;
        }

        _end += read;
        return true;
    }

    /// <summary>Parses the head at _start; Continue = the fast path serves it, HandOff = Kestrel does, Close = 400.</summary>
    private Next ParseHead(int headEnd)
    {
        var head = _buffer.AsSpan(_start, headEnd);
        if (!Http1Parser.TryParseRequestLine(head, out var methodRange, out var targetRange, out var minorVersion, out var lineEnd))
        {
            return Next.Close;
        }

        var count = Http1Parser.ParseHeaders(head, lineEnd, _spans);
        if (count < 0)
        {
            return Next.Close;
        }

        if (minorVersion == 0)
        {
            // HTTP/1.0 (keep-alive negotiation, no chunked responses) is Kestrel's.
            return Next.HandOff;
        }

        _headEnd = headEnd;
        _headerCount = count;
        _contentLength = 0;
        _closeAfterResponse = false;
        _teTrailers = false;
        var hosts = 0;
        var lengths = 0;
        for (var i = 0; i < count; i++)
        {
            ref readonly var span = ref _spans[i];
            var name = head.Slice(span.NameStart, span.NameLength);
            var value = head.Slice(span.ValueStart, span.ValueLength);
            switch (name.Length)
            {
                case 2 when Ascii.EqualsIgnoreCase(name, "te"u8):
                    _teTrailers = Http1Parser.HasToken(value, "trailers"u8);
                    break;
                case 4 when Ascii.EqualsIgnoreCase(name, "host"u8):
                    hosts++;
                    break;
                case 6 when Ascii.EqualsIgnoreCase(name, "expect"u8):
                    return Next.HandOff;
                case 7 when Ascii.EqualsIgnoreCase(name, "upgrade"u8):
                    return Next.HandOff;
                case 10 when Ascii.EqualsIgnoreCase(name, "connection"u8):
                    if (Http1Parser.HasToken(value, "close"u8))
                    {
                        _closeAfterResponse = true;
                    }

                    break;
                case 12 when Ascii.EqualsIgnoreCase(name, "content-type"u8):
                    if (value.Length >= 16 && Ascii.EqualsIgnoreCase(value[..16], "application/grpc"u8))
                    {
                        return Next.HandOff;
                    }

                    break;
                case 14 when Ascii.EqualsIgnoreCase(name, "content-length"u8):
                    var length = Http1Parser.ParseContentLength(value);
                    if (length < 0 || (lengths > 0 && length != _contentLength))
                    {
                        return Next.Close;
                    }

                    _contentLength = length;
                    lengths++;
                    break;
                case 17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8):
                    return Next.HandOff;
            }
        }

        if (hosts != 1)
        {
            // RFC 9112: exactly one Host in HTTP/1.1; Kestrel answers 400.
            return Next.HandOff;
        }

        var target = head[targetRange];
        if (target[0] != (byte)'/')
        {
            // Absolute-form, asterisk-form and authority-form targets: not routable here.
            return Next.HandOff;
        }

        _method = MethodString(head[methodRange]);
        if (_lastTarget is null || !Ascii.Equals(target, _lastTarget))
        {
            _lastTarget = Encoding.ASCII.GetString(target);
            Pipeline.ProxyPipeline.SplitTarget(_lastTarget, out _lastPath, out _lastQuery);
        }

        // Header strings: a value identical to the one in the same position on the previous request is reused.
        _headers.Clear();
        for (var i = 0; i < count; i++)
        {
            ref readonly var span = ref _spans[i];
            var nameBytes = head.Slice(span.NameStart, span.NameLength);
            var valueBytes = head.Slice(span.ValueStart, span.ValueLength);
            var name = _nameCache[i];
            if (name is null || !Ascii.EqualsIgnoreCase(nameBytes, name))
            {
                name = _nameCache[i] = KnownHeaderName(nameBytes) ?? Encoding.Latin1.GetString(nameBytes).ToLowerInvariant();
            }

            var value = _valueCache[i];
            if (value is null || !Ascii.Equals(valueBytes, value))
            {
                value = _valueCache[i] = Encoding.Latin1.GetString(valueBytes);
            }

            // A repeated header line joins the values already held under its name.
            _headers.Append(name, value);
        }

        return Next.Continue;
    }

    private static string MethodString(ReadOnlySpan<byte> method) => method switch
    {
        _ when method.SequenceEqual("GET"u8) => "GET",
        _ when method.SequenceEqual("POST"u8) => "POST",
        _ when method.SequenceEqual("PUT"u8) => "PUT",
        _ when method.SequenceEqual("DELETE"u8) => "DELETE",
        _ when method.SequenceEqual("HEAD"u8) => "HEAD",
        _ when method.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        _ when method.SequenceEqual("PATCH"u8) => "PATCH",
        _ => Encoding.ASCII.GetString(method),
    };

    private static string? KnownHeaderName(ReadOnlySpan<byte> name) => name.Length switch
    {
        4 when Ascii.EqualsIgnoreCase(name, "host"u8) => "host",
        6 when Ascii.EqualsIgnoreCase(name, "accept"u8) => "accept",
        6 when Ascii.EqualsIgnoreCase(name, "cookie"u8) => "cookie",
        10 when Ascii.EqualsIgnoreCase(name, "user-agent"u8) => "user-agent",
        10 when Ascii.EqualsIgnoreCase(name, "connection"u8) => "connection",
        12 when Ascii.EqualsIgnoreCase(name, "content-type"u8) => "content-type",
        12 when Ascii.EqualsIgnoreCase(name, "x-request-id"u8) => "x-request-id",
        14 when Ascii.EqualsIgnoreCase(name, "content-length"u8) => "content-length",
        15 when Ascii.EqualsIgnoreCase(name, "accept-encoding"u8) => "accept-encoding",
        15 when Ascii.EqualsIgnoreCase(name, "x-forwarded-for"u8) => "x-forwarded-for",
        17 when Ascii.EqualsIgnoreCase(name, "x-forwarded-proto"u8) => "x-forwarded-proto",
        _ => null,
    };

    private static partial class Log
    {
        [LoggerMessage(5200, LogLevel.Debug, "Listener {Listener}: HTTP/1.1 connection handed to Kestrel")]
        public static partial void HandedOff(ILogger logger, string listener);

        [LoggerMessage(5201, LogLevel.Warning, "HTTP/1.1 fast path: connection failed unexpectedly")]
        public static partial void Failed(ILogger logger, Exception exception);

        [LoggerMessage(5202, LogLevel.Debug, "Cluster {Cluster}: upstream {Host} failed: {Failure}")]
        public static partial void UpstreamFailed(ILogger logger, string cluster, string host, UpstreamFailure failure);
    }
}
