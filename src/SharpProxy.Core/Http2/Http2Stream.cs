using System.Buffers;
using System.Net;
using SharpProxy.Core.Http1;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Http2;

/// <summary>
/// One request stream of a fast-path HTTP/2 connection, seen by the HTTP/1.1 fast path as an HTTP/1.1 connection that
/// carries one exchange: the request's HEADERS become an HTTP/1.1 head and its DATA the body (request side), and the
/// HTTP/1.1 response written back becomes HEADERS and DATA frames (response side).
/// </summary>
/// <remarks>
/// So routing, retries, timeouts, header rules, stats and access logs are the HTTP/1.1 fast path's, unchanged, and a
/// request it hands over reaches Kestrel's HTTP/1.1 server through the same stream. The price is an HTTP/1.1 head
/// written and parsed once more per request, no syscall.
/// </remarks>
internal sealed partial class Http2Stream : IByteTransport, IHpackHeaderSink
{
    private const int MaxHeadBytes = 64 * 1024;

    private static readonly Action<object?, CancellationToken> s_cancelRead = static (state, token) => ((Http2Stream)state!).CancelRead(token);

    private readonly Http2Connection _connection;
    private readonly ReusableValueTaskSource _read = new();

    // Request side: HTTP/1.1 bytes for the fast path to read; [_inputStart, _inputEnd) not read yet.
    private byte[] _input = [];
    private int _inputStart;
    private int _inputEnd;
    private bool _inputEnded;
    private bool _readParked;
    private Memory<byte> _readBuffer;
    private CancellationToken _readToken;
    private CancellationTokenRegistration _readRegistration;
    private int _consumedSinceUpdate;
    private ReusableValueTaskSource? _credit;
    private Action? _served;

    public Http2Stream(Http2Connection connection, int id, int sendWindow, int receiveWindow)
    {
        _connection = connection;
        Reset(id, sendWindow, receiveWindow);
    }

    public int Id { get; private set; }

    /// <summary>The HTTP/1.1 fast path's connection object that serves this stream; kept with it for the next stream.</summary>
    internal Http1.Http1Connection? Exchange { get; set; }

    /// <summary>The fast path serving this stream (awaited once, by <see cref="OnServed"/>).</summary>
    internal ValueTask<KestrelHandoff?> Serving { get; set; }

    /// <summary>The continuation of <see cref="Serving"/>, made once per stream object (streams are reused).</summary>
    internal Action ServedCallback => _served ??= OnServed;

    internal void OnServed()
    {
        KestrelHandoff? handedOff = null;
        try
        {
            handedOff = Serving.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The fast path ends its own failures; nothing is left to do for the stream.
        }

        Serving = default;
        if (handedOff is null)
        {
            // Not handed to Kestrel: the stream ends here (Http1Connection.ServeStreamAsync leaves this to its caller).
            Shutdown();
            Dispose();
        }

        _connection.OnStreamServed(this, handedOff);
    }

    /// <summary>Makes a finished stream (from the connection's pool) a new one.</summary>
    internal void Reset(int id, int sendWindow, int receiveWindow)
    {
        Id = id;
        SendWindow = sendWindow;
        ReceiveWindow = receiveWindow;
        ResetSent = false;
        DeclaredLength = -1;
        ReceivedBody = 0;
        ChunkedRequest = false;
        if (_input.Length == 0)
        {
            _input = ArrayPool<byte>.Shared.Rent(4096);
        }

        _inputStart = _inputEnd = 0;
        _inputEnded = false;
        _readParked = false;
        _readBuffer = default;
        _readToken = default;
        _readRegistration = default;
        _consumedSinceUpdate = 0;
        PendingCredit = 0;
        ResetRequest();
        ResetResponse();
    }

    /// <summary>DATA bytes buffered for the fast path and not yet credited back to the client (connection lock held).</summary>
    internal long PendingCredit { get; set; }

    /// <summary>Takes what the stream buffered and will not pass on (it ended or was reset), for the connection's window.</summary>
    internal int TakePendingCredit()
    {
        var pending = (int)PendingCredit;
        PendingCredit = 0;
        return pending;
    }

    /// <summary>RST_STREAM was queued for it (once).</summary>
    internal bool ResetSent { get; set; }

    internal bool IsAborted => _aborted;

    /// <summary>Completed when a response writer blocked by flow control may go on.</summary>
    internal ReusableValueTaskSource Credit => _credit ??= new ReusableValueTaskSource();

    /// <summary>Flow-control window for our DATA on this stream (the peer's SETTINGS_INITIAL_WINDOW_SIZE plus its updates).</summary>
    internal long SendWindow { get; set; }

    /// <summary>What the peer may still send on this stream before our next WINDOW_UPDATE.</summary>
    internal long ReceiveWindow { get; set; }

    /// <summary>Body bytes the client said it sends (content-length), -1 when it did not say.</summary>
    internal long DeclaredLength { get; private set; } = -1;

    internal long ReceivedBody { get; private set; }

    /// <summary>The client ended its side (END_STREAM) or the stream was reset.</summary>
    internal bool InputEnded => _inputEnded;

    /// <summary>Whether the request's body is re-framed as chunked (no content-length and not ended with its HEADERS).</summary>
    internal bool ChunkedRequest { get; private set; }

    public SocketEventLoop? Loop => _connection.Loop;

    public EndPoint? LocalEndPoint => _connection.LocalEndPoint;

    public EndPoint? RemoteEndPoint => _connection.RemoteEndPoint;

    public string Protocol => "HTTP/2";

    public bool IsTls => _connection.IsTls;

    public IByteTransport ForKestrel() => this;

    /// <summary>A DATA payload for this stream (connection lock held). False when it breaks the declared length.</summary>
    internal bool OnData(ReadOnlySpan<byte> data, bool endStream)
    {
        ReceivedBody += data.Length;
        if (DeclaredLength >= 0 && (ReceivedBody > DeclaredLength || (endStream && ReceivedBody != DeclaredLength)))
        {
            return false;
        }

        if (ChunkedRequest)
        {
            if (data.Length > 0)
            {
                Span<byte> size = stackalloc byte[10];
                data.Length.TryFormat(size, out var digits, "x", System.Globalization.CultureInfo.InvariantCulture);
                AppendInput(size[..digits]);
                AppendInput("\r\n"u8);
                AppendInput(data);
                AppendInput("\r\n"u8);
            }

            if (endStream)
            {
                AppendInput("0\r\n\r\n"u8);
            }
        }
        else
        {
            AppendInput(data);
        }

        if (endStream)
        {
            _inputEnded = true;
        }

        return true;
    }

    /// <summary>The client ended the stream with trailers (not forwarded): the body is complete.</summary>
    internal void OnTrailers()
    {
        if (ChunkedRequest)
        {
            AppendInput("0\r\n\r\n"u8);
        }

        _inputEnded = true;
    }

    /// <summary>
    /// Wakes a parked read after <see cref="OnData"/> or the end of input (call without the connection's lock, it may
    /// run the fast path's continuation).
    /// </summary>
    internal void WakeReader()
    {
        int read;
        CancellationTokenRegistration registration;
        lock (_connection.Sync)
        {
            if (!_readParked || (_inputStart == _inputEnd && !_inputEnded))
            {
                return;
            }

            read = TakeInput(_readBuffer.Span);
            _readParked = false;
            _readBuffer = default;
            _readToken = default;
            registration = _readRegistration;
            _readRegistration = default;
        }

        registration.Unregister();
        _read.SetResult(read);
        _connection.RequestFlush();
    }

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        short version;
        lock (_connection.Sync)
        {
            if (_inputStart < _inputEnd || _inputEnded)
            {
                var read = TakeInput(buffer.Span);
                if (read > 0)
                {
                    _connection.RequestFlush();
                }

                return new ValueTask<int>(read);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<int>(cancellationToken);
            }

            _read.Reset();
            version = _read.Version;
            _readBuffer = buffer;
            _readToken = cancellationToken;
            _readParked = true;
            if (cancellationToken.CanBeCanceled)
            {
                _readRegistration = cancellationToken.UnsafeRegister(s_cancelRead, this);
            }
        }

        return new ValueTask<int>(_read, version);
    }

    private void CancelRead(CancellationToken token)
    {
        lock (_connection.Sync)
        {
            if (!_readParked || _readToken != token)
            {
                return;
            }

            _readParked = false;
            _readBuffer = default;
            _readToken = default;
            _readRegistration = default;
        }

        _read.SetException(new OperationCanceledException(token));
    }

    /// <summary>Copies input out (lock held) and credits the consumed body bytes back to the peer's window.</summary>
    private int TakeInput(Span<byte> destination)
    {
        var count = Math.Min(destination.Length, _inputEnd - _inputStart);
        _input.AsSpan(_inputStart, count).CopyTo(destination);
        _inputStart += count;
        if (_inputStart == _inputEnd)
        {
            _inputStart = _inputEnd = 0;
        }

        // Body bytes read are credited back (the head and chunk framing were not flow-controlled: at most count).
        var credit = (int)Math.Min(count, PendingCredit);
        if (credit > 0)
        {
            PendingCredit -= credit;
            _connection.CreditConnectionLocked(credit);
            _consumedSinceUpdate += credit;
            if (!_inputEnded && _consumedSinceUpdate >= Http2Connection.StreamReceiveWindow / 4)
            {
                _connection.QueueWindowUpdate(Id, _consumedSinceUpdate);
                ReceiveWindow += _consumedSinceUpdate;
                _consumedSinceUpdate = 0;
            }
        }

        return count;
    }

    private void AppendInput(ReadOnlySpan<byte> data)
    {
        if (_inputEnd + data.Length > _input.Length)
        {
            var live = _inputEnd - _inputStart;
            if (live + data.Length <= _input.Length)
            {
                Buffer.BlockCopy(_input, _inputStart, _input, 0, live);
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_input.Length * 2, live + data.Length));
                Buffer.BlockCopy(_input, _inputStart, larger, 0, live);
                ArrayPool<byte>.Shared.Return(_input);
                _input = larger;
            }

            _inputStart = 0;
            _inputEnd = live;
        }

        data.CopyTo(_input.AsSpan(_inputEnd));
        _inputEnd += data.Length;
    }

    /// <summary>Refuses the stream (REFUSED_STREAM, so the client may retry it) and sends the listener's HTTP/2 to Kestrel.</summary>
    internal void RefuseForKestrel(string listenerName) => _connection.RefuseForKestrel(this, listenerName);

    /// <summary>The stream was reset or its connection closed (lock held): reads see the end, writes fail.</summary>
    internal void AbortLocked()
    {
        _inputEnded = true;
        _aborted = true;
    }

    public void Shutdown() => Close();

    public void Dispose() => Close();

    /// <summary>Returns the buffers once the connection forgot the stream and nothing reads or writes it any more.</summary>
    internal void ReleaseBuffers()
    {
        lock (_connection.Sync)
        {
            if (_input.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_input);
                _input = [];
            }

            _inputStart = _inputEnd = 0;
        }

        ReleaseRequestBuffers();
        ReleaseResponseBuffers();
        Exchange?.ReleaseForStreams();
        Exchange = null;
    }
}
