using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Http1;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Http2;

/// <summary>
/// A cleartext HTTP/2 (prior knowledge) connection served on a worker's event loop: frames, HPACK, flow control and
/// stream lifecycle here (RFC 9113), each request stream served by the HTTP/1.1 fast path through an
/// <see cref="Http2Stream"/>. What the fast path hands over from a stream goes to Kestrel's HTTP/1.1 server through the
/// same stream.
/// </summary>
/// <remarks>
/// Requests that need trailers (gRPC, te: trailers) cannot cross the HTTP/1.1 bridge. When the first request of a
/// connection is one, the whole connection goes to Kestrel's HTTP/2 server before anything was written (the bytes read
/// so far go with it). When a later one comes, it is refused (REFUSED_STREAM, which clients retry) with a GOAWAY, and
/// the listener's next HTTP/2 connections go to Kestrel.
/// </remarks>
internal sealed partial class Http2Connection : IDeferredFlush
{
    public const int NoError = 0x0;
    public const int ProtocolError = 0x1;
    public const int InternalError = 0x2;
    public const int FlowControlError = 0x3;
    public const int StreamClosedError = 0x5;
    public const int FrameSizeError = 0x6;
    public const int RefusedStream = 0x7;
    public const int CompressionError = 0x9;
    public const int EnhanceYourCalm = 0xb;

    /// <summary>Our SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before the fast path reads it.</summary>
    public const int StreamReceiveWindow = 1 << 20;

    /// <summary>
    /// What all streams of a connection may have buffered here, unread by the fast path, before the client must wait;
    /// credited back as the fast path reads (so a client cannot make the proxy buffer more than this per connection).
    /// </summary>
    private const int ConnectionReceiveWindow = 4 << 20;
    private const int DefaultWindow = 65535;
    private const int MaxFrameSize = 16384;
    private const int FrameHeaderLength = 9;
    private const int MaxConcurrentStreams = 1000;
    private const int MaxHeaderBlock = 64 * 1024;
    private const int OutputHighWater = 256 * 1024;
    private const int MaxResetsPerSecond = 500;
    private const int MaxControlFramesPerSecond = 1000;
    private const int MaxPooledStreams = 64;

    private const byte Data = 0x0;
    private const byte Headers = 0x1;
    private const byte Priority = 0x2;
    private const byte RstStream = 0x3;
    private const byte Settings = 0x4;
    private const byte PushPromise = 0x5;
    private const byte Ping = 0x6;
    private const byte GoAway = 0x7;
    private const byte WindowUpdate = 0x8;
    private const byte Continuation = 0x9;

    private const byte FlagEndStream = 0x1;
    private const byte FlagAck = 0x1;
    private const byte FlagEndHeaders = 0x4;
    private const byte FlagPadded = 0x8;
    private const byte FlagPriority = 0x20;

    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(300);

    /// <summary>How long a new connection waits for its first HEADERS before sending its SETTINGS (clients need not wait).</summary>
    private static readonly TimeSpan FirstHeadersWait = TimeSpan.FromMilliseconds(100);

    private readonly Http1FastPath _owner;
    private readonly IByteTransport _socket;
    private readonly ProxyConnectionFeature _feature;
    private readonly HpackDecoder _decoder = new(4096, MaxHeaderBlock);
    private readonly Dictionary<int, Http2Stream> _streams = [];
    private readonly List<Http2Stream> _blocked = [];
    private readonly DiscardingSink _discard = new();
    private readonly Stack<Http2Stream> _pool = new();

    private byte[] _in = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _inStart;
    private int _inEnd;

    // A header block being collected from HEADERS and CONTINUATION frames.
    private byte[] _block = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _blockLength;
    private int _blockStream;
    private bool _blockEndStream;
    private bool _collectingBlock;

    private byte[] _out = ArrayPool<byte>.Shared.Rent(32 * 1024);
    private byte[] _spare = ArrayPool<byte>.Shared.Rent(32 * 1024);
    private int _outLength;
    private bool _flushing;
    private bool _flushScheduled;
    private TaskCompletionSource? _drained;

    private readonly LoopDeadline _idle;
    private bool _committed;
    private bool _closeAfterFlush;
    private bool _sawStream;
    private bool _closed;
    private bool _goAwaySent;
    private bool _peerGoAway;
    private int _lastStreamId;
    private int _active;
    private long _connectionSendWindow = DefaultWindow;
    private long _connectionReceiveWindow = ConnectionReceiveWindow;
    private int _connectionConsumed;
    private int _peerInitialWindow = DefaultWindow;
    private int _peerMaxFrameSize = MaxFrameSize;
    private long _rateWindowStart;
    private int _resetsInWindow;
    private int _controlFramesInWindow;

    private Http2Connection(Http1FastPath owner, IByteTransport socket, ProxyConnectionFeature feature)
    {
        _owner = owner;
        _socket = socket;
        _idle = new LoopDeadline(socket.Loop);
        _feature = feature;

        // Our preface, queued now and sent once the connection is committed to this path.
        Span<byte> settings = stackalloc byte[18];
        WriteSetting(settings, 0, 0x3, MaxConcurrentStreams);
        WriteSetting(settings, 6, 0x4, StreamReceiveWindow);
        WriteSetting(settings, 12, 0x6, MaxHeaderBlock);
        WriteFrame(Settings, 0, 0, settings);
        QueueWindowUpdate(0, ConnectionReceiveWindow - DefaultWindow);
    }

    /// <summary>Guards the streams, windows and output buffer (the loop thread, timers and hand-off pumps all touch them).</summary>
    internal Lock Sync { get; } = new();

    public SocketEventLoop? Loop => _socket.Loop;

    public EndPoint? LocalEndPoint => _socket.LocalEndPoint;

    public EndPoint? RemoteEndPoint => _socket.RemoteEndPoint;

    /// <summary>HTTP/2 over TLS (ALPN h2) rather than h2c.</summary>
    public bool IsTls => _socket.IsTls;

    /// <summary>
    /// Serves the connection (the HTTP/2 preface is waiting in the socket) until it closes; returns the Kestrel
    /// connection when it was handed over whole.
    /// </summary>
    public static async Task<KestrelHandoff?> RunAsync(Http1FastPath owner, IByteTransport socket, ProxyConnectionFeature feature)
    {
        var connection = new Http2Connection(owner, socket, feature);
        owner.Register(connection);
        try
        {
            return await connection.ServeAsync().ConfigureAwait(false);
        }
        finally
        {
            owner.Unregister(connection);
            connection.Release();
        }
    }

    private async Task<KestrelHandoff?> ServeAsync()
    {
        try
        {
            while (_inEnd < Http2Preface.Bytes.Length)
            {
                if (!await ReadMoreAsync().ConfigureAwait(false))
                {
                    Abort();
                    return null;
                }
            }

            if (!_in.AsSpan(0, Http2Preface.Bytes.Length).SequenceEqual(Http2Preface.Bytes))
            {
                Abort();
                return null;
            }

            _inStart = Http2Preface.Bytes.Length;
            while (true)
            {
                var outcome = ProcessFrames();
                if (outcome == Outcome.HandOff)
                {
                    return HandOffWhole();
                }

                if (outcome == Outcome.Close)
                {
                    break;
                }

                // Nothing is written before the first request's HEADERS (or a short wait for them): a connection whose
                // first request needs Kestrel's HTTP/2 server goes there whole.
                if (_committed || _sawStream)
                {
                    Commit();
                    FlushNow();
                }

                lock (Sync)
                {
                    if ((_goAwaySent || _peerGoAway) && _active == 0)
                    {
                        break;
                    }
                }

                if (_owner.Draining)
                {
                    SendGoAway(NoError);
                }

                // A client that does not read what it asks for (PING, SETTINGS) is not read from either.
                if (Volatile.Read(ref _outLength) > OutputHighWater * 4)
                {
                    await WaitForDrainAsync().ConfigureAwait(false);
                }

                if (!await ReadMoreAsync().ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The client left, or went idle too long.
        }
        catch (Exception ex)
        {
            Log.Failed(_owner.Logger, ex);
        }

        FlushNow();
        Abort();
        return null;
    }

    /// <summary>Reads more bytes; false at the end of the stream or after the idle timeout with no stream open.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> ReadMoreAsync()
    {
        if (_inStart > 0 && _committed)
        {
            // Compacted only once committed: until then every byte since the preface may go to Kestrel.
            Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
            _inEnd -= _inStart;
            _inStart = 0;
        }

        if (_inEnd == _in.Length)
        {
            if (_committed)
            {
                // A frame never exceeds our SETTINGS_MAX_FRAME_SIZE plus its header, far below the buffer: unreachable.
                return false;
            }

            // The first flight filled the buffer without a decision: this path serves the connection.
            Commit();
            return await ReadMoreAsync().ConfigureAwait(false);
        }

        while (true)
        {
            _idle.Reset();
            var awaitingFirstHeaders = !_committed;
            _idle.CancelAfter(awaitingFirstHeaders ? FirstHeadersWait : IdleTimeout);
            try
            {
                var read = await _socket.ReceiveAsync(_in.AsMemory(_inEnd), _idle.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return false;
                }

                _inEnd += read;
                return true;
            }
            catch (OperationCanceledException) when (_idle.IsCancellationRequested)
            {
                if (awaitingFirstHeaders)
                {
                    // The client waits for our SETTINGS before its first request: this path serves the connection.
                    Commit();
                    FlushNow();
                    continue;
                }

                lock (Sync)
                {
                    if (_active == 0)
                    {
                        return false;
                    }
                }

                // Streams are open and have their own timeouts: wait again.
            }
        }
    }

    private enum Outcome
    {
        Continue,
        Close,
        HandOff,
    }

    /// <summary>Handles every complete frame in the buffer.</summary>
    private Outcome ProcessFrames()
    {
        while (_inEnd - _inStart >= FrameHeaderLength)
        {
            var header = _in.AsSpan(_inStart, FrameHeaderLength);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var type = header[3];
            var flags = header[4];
            var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7fffffff);
            if (length > MaxFrameSize)
            {
                return ConnectionError(FrameSizeError);
            }

            if (_inEnd - _inStart < FrameHeaderLength + length)
            {
                break;
            }

            var payload = _in.AsSpan(_inStart + FrameHeaderLength, length);
            _inStart += FrameHeaderLength + length;
            if (_collectingBlock && type != Continuation)
            {
                return ConnectionError(ProtocolError);
            }

            var outcome = type switch
            {
                Data => OnData(streamId, flags, payload),
                Headers => OnHeaders(streamId, flags, payload),
                Priority => length == 5 ? Outcome.Continue : ConnectionError(FrameSizeError),
                RstStream => OnRstStream(streamId, payload),
                Settings => OnSettings(streamId, flags, payload),
                PushPromise => ConnectionError(ProtocolError),
                Ping => OnPing(streamId, flags, payload),
                GoAway => OnGoAway(streamId),
                WindowUpdate => OnWindowUpdate(streamId, payload),
                Continuation => OnContinuation(streamId, flags, payload),
                _ => Outcome.Continue, // Unknown frame types are ignored (RFC 9113 section 4.1).
            };
            if (outcome != Outcome.Continue)
            {
                return outcome;
            }
        }

        return Outcome.Continue;
    }

    private Outcome OnData(int streamId, byte flags, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            return ConnectionError(ProtocolError);
        }

        var flowed = payload.Length;
        if (!Unpad(flags, ref payload))
        {
            return ConnectionError(ProtocolError);
        }

        Http2Stream? stream;
        var endStream = (flags & FlagEndStream) != 0;
        lock (Sync)
        {
            _connectionReceiveWindow -= flowed;
            if (_connectionReceiveWindow < 0)
            {
                return ConnectionError(FlowControlError);
            }

            if (!_streams.TryGetValue(streamId, out stream) || stream.InputEnded)
            {
                if (streamId > _lastStreamId)
                {
                    return ConnectionError(ProtocolError);
                }

                // A stream we reset or finished: frames in flight are ignored (RFC 9113 section 5.1) and their bytes
                // credited back at once. DATA after END_STREAM is a stream error.
                CreditConnectionLocked(flowed);
                if (stream is not null)
                {
                    ResetStreamLocked(stream, StreamClosedError);
                }

                return Outcome.Continue;
            }

            stream.ReceiveWindow -= flowed;
            if (stream.ReceiveWindow < 0)
            {
                CreditConnectionLocked(flowed);
                ResetStreamLocked(stream, FlowControlError);
            }
            else if (!stream.OnData(payload, endStream))
            {
                // More or fewer bytes than the content-length said: malformed (RFC 9113 section 8.1.1).
                CreditConnectionLocked(flowed);
                ResetStreamLocked(stream, ProtocolError);
            }
            else
            {
                // Padding is not buffered: credited now; the data when the fast path reads it.
                CreditConnectionLocked(flowed - payload.Length);
                stream.PendingCredit += payload.Length;
            }
        }

        stream.WakeReader();
        WakeBlocked();
        return Outcome.Continue;
    }

    private Outcome OnHeaders(int streamId, byte flags, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0 || (streamId & 1) == 0)
        {
            return ConnectionError(ProtocolError);
        }

        if (!Unpad(flags, ref payload))
        {
            return ConnectionError(ProtocolError);
        }

        if ((flags & FlagPriority) != 0)
        {
            if (payload.Length < 5)
            {
                return ConnectionError(FrameSizeError);
            }

            payload = payload[5..];
        }

        _blockLength = 0;
        _blockStream = streamId;
        _blockEndStream = (flags & FlagEndStream) != 0;
        if (!AppendBlock(payload))
        {
            return ConnectionError(EnhanceYourCalm);
        }

        if ((flags & FlagEndHeaders) == 0)
        {
            _collectingBlock = true;
            return Outcome.Continue;
        }

        return OnHeaderBlock();
    }

    private Outcome OnContinuation(int streamId, byte flags, ReadOnlySpan<byte> payload)
    {
        if (!_collectingBlock || streamId != _blockStream)
        {
            return ConnectionError(ProtocolError);
        }

        if (!AppendBlock(payload))
        {
            return ConnectionError(EnhanceYourCalm);
        }

        if ((flags & FlagEndHeaders) == 0)
        {
            return Outcome.Continue;
        }

        _collectingBlock = false;
        return OnHeaderBlock();
    }

    private bool AppendBlock(ReadOnlySpan<byte> fragment)
    {
        if (_blockLength + fragment.Length > MaxHeaderBlock)
        {
            return false;
        }

        if (_blockLength + fragment.Length > _block.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_block.Length * 2, _blockLength + fragment.Length));
            Buffer.BlockCopy(_block, 0, larger, 0, _blockLength);
            ArrayPool<byte>.Shared.Return(_block);
            _block = larger;
        }

        fragment.CopyTo(_block.AsSpan(_blockLength));
        _blockLength += fragment.Length;
        return true;
    }

    /// <summary>A complete header block: a new request, trailers of an open one, or one to decode and ignore.</summary>
    private Outcome OnHeaderBlock()
    {
        var streamId = _blockStream;
        var block = _block.AsSpan(0, _blockLength);
        // A new stream's id is above every id seen so far, so only a lower one can name an open stream (trailers).
        if (streamId <= _lastStreamId)
        {
            Http2Stream? existing;
            lock (Sync)
            {
                _streams.TryGetValue(streamId, out existing);
            }

            // Decoded whatever happens: the HPACK table is shared by the whole connection.
            if (_decoder.Decode(block, _discard) != HpackError.None)
            {
                return ConnectionError(CompressionError);
            }

            if (existing is null)
            {
                return Outcome.Continue;
            }

            lock (Sync)
            {
                if (existing.InputEnded || !_blockEndStream)
                {
                    // A second HEADERS that does not end the stream, or one after its end: malformed.
                    ResetStreamLocked(existing, ProtocolError);
                }
                else
                {
                    existing.OnTrailers();
                }
            }

            existing.WakeReader();
            return Outcome.Continue;
        }

        _lastStreamId = streamId;
        var first = !_sawStream;
        _sawStream = true;
        var stream = RentStream(streamId);
        var error = _decoder.Decode(block, stream);
        if (error != HpackError.None)
        {
            ReturnStream(stream);
            return ConnectionError(error == HpackError.HeaderListTooLarge ? EnhanceYourCalm : CompressionError);
        }

        if (!stream.CompleteHead(_blockEndStream))
        {
            Log.Malformed(_owner.Logger, streamId, stream.Malformed!);
            ReturnStream(stream);
            lock (Sync)
            {
                QueueRstStream(streamId, ProtocolError);
            }

            return Outcome.Continue;
        }

        if (stream.NeedsTrailers)
        {
            ReturnStream(stream);
            if (!_committed && first)
            {
                return Outcome.HandOff;
            }

            // Refused (clients retry it elsewhere) and no new streams here: the listener's next connections go to Kestrel.
            _owner.PreferKestrelForHttp2(_feature.ListenerName);
            lock (Sync)
            {
                QueueRstStream(streamId, RefusedStream);
            }

            SendGoAway(NoError);
            return Outcome.Continue;
        }

        lock (Sync)
        {
            if (_goAwaySent || _active >= MaxConcurrentStreams)
            {
                QueueRstStream(streamId, RefusedStream);
                ReturnStream(stream);
                return Outcome.Continue;
            }

            _streams.Add(streamId, stream);
            _active++;
        }

        Commit();
        _owner.OnHttp2Stream();
        RunStream(stream);
        return Outcome.Continue;
    }

    /// <summary>
    /// Serves the stream with the HTTP/1.1 fast path; the stream and its connection object are reused after. Awaited
    /// through the stream's cached callback rather than an async method, so starting a stream allocates nothing.
    /// </summary>
    private void RunStream(Http2Stream stream)
    {
        var exchange = stream.Exchange ??= Http1Connection.ForStreams(_owner, stream, _feature);
        stream.Serving = exchange.ServeStreamAsync(stream);
        var awaiter = stream.Serving.GetAwaiter();
        if (awaiter.IsCompleted)
        {
            stream.OnServed();
        }
        else
        {
            awaiter.UnsafeOnCompleted(stream.ServedCallback);
        }
    }

    /// <summary>The fast path finished the stream: reused, or (handed to Kestrel) left to Kestrel.</summary>
    internal void OnStreamServed(Http2Stream stream, KestrelHandoff? handedOff)
    {
        if (handedOff is null)
        {
            ReturnStream(stream);
            return;
        }

        // Kestrel serves the stream from now on (and closes it); the connection object is free.
        var exchange = stream.Exchange;
        stream.Exchange = null;
        exchange?.ReleaseForStreams();
    }

    private Http2Stream RentStream(int streamId)
    {
        lock (Sync)
        {
            if (_pool.TryPop(out var pooled))
            {
                pooled.Reset(streamId, _peerInitialWindow, StreamReceiveWindow);
                return pooled;
            }
        }

        return new Http2Stream(this, streamId, _peerInitialWindow, StreamReceiveWindow);
    }

    /// <summary>A stream nothing refers to any more: kept for the next one, or its buffers returned.</summary>
    private void ReturnStream(Http2Stream stream)
    {
        lock (Sync)
        {
            if (!_closed && _pool.Count < MaxPooledStreams)
            {
                _pool.Push(stream);
                return;
            }
        }

        stream.ReleaseBuffers();
    }

    private Outcome OnRstStream(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            return ConnectionError(FrameSizeError);
        }

        if (streamId == 0 || streamId > _lastStreamId)
        {
            return ConnectionError(ProtocolError);
        }

        // Rapid reset (CVE-2023-44487): a client that opens and cancels streams faster than anyone reads responses.
        if (CountInWindow(ref _resetsInWindow) > MaxResetsPerSecond)
        {
            return ConnectionError(EnhanceYourCalm);
        }

        Http2Stream? stream;
        lock (Sync)
        {
            if (_streams.TryGetValue(streamId, out stream))
            {
                stream.AbortLocked();
            }
        }

        if (stream is not null)
        {
            stream.WakeReader();
            WakeBlocked();
        }

        return Outcome.Continue;
    }

    private Outcome OnSettings(int streamId, byte flags, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            return ConnectionError(ProtocolError);
        }

        if ((flags & FlagAck) != 0)
        {
            return payload.Length == 0 ? Outcome.Continue : ConnectionError(FrameSizeError);
        }

        if (payload.Length % 6 != 0)
        {
            return ConnectionError(FrameSizeError);
        }

        if (CountInWindow(ref _controlFramesInWindow) > MaxControlFramesPerSecond)
        {
            return ConnectionError(EnhanceYourCalm);
        }

        lock (Sync)
        {
            for (var offset = 0; offset < payload.Length; offset += 6)
            {
                var id = BinaryPrimitives.ReadUInt16BigEndian(payload[offset..]);
                var value = BinaryPrimitives.ReadUInt32BigEndian(payload[(offset + 2)..]);
                switch (id)
                {
                    case 0x2 when value > 1:
                        return ConnectionError(ProtocolError);
                    case 0x4:
                        if (value > int.MaxValue)
                        {
                            return ConnectionError(FlowControlError);
                        }

                        var delta = (int)value - _peerInitialWindow;
                        _peerInitialWindow = (int)value;
                        foreach (var stream in _streams.Values)
                        {
                            stream.SendWindow += delta;
                            if (stream.SendWindow > int.MaxValue)
                            {
                                return ConnectionError(FlowControlError);
                            }
                        }

                        break;
                    case 0x5:
                        if (value is < MaxFrameSize or > 16777215)
                        {
                            return ConnectionError(ProtocolError);
                        }

                        _peerMaxFrameSize = (int)Math.Min(value, 64 * 1024);
                        break;
                }
            }

            WriteFrame(Settings, FlagAck, 0, default);
        }

        WakeBlocked();
        return Outcome.Continue;
    }

    private Outcome OnPing(int streamId, byte flags, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            return ConnectionError(ProtocolError);
        }

        if (payload.Length != 8)
        {
            return ConnectionError(FrameSizeError);
        }

        if ((flags & FlagAck) == 0)
        {
            if (CountInWindow(ref _controlFramesInWindow) > MaxControlFramesPerSecond)
            {
                return ConnectionError(EnhanceYourCalm);
            }

            lock (Sync)
            {
                WriteFrame(Ping, FlagAck, 0, payload);
            }
        }

        return Outcome.Continue;
    }

    private Outcome OnGoAway(int streamId)
    {
        if (streamId != 0)
        {
            return ConnectionError(ProtocolError);
        }

        // No new streams will come; the connection closes once the open ones end.
        lock (Sync)
        {
            _peerGoAway = true;
            return _active == 0 ? Outcome.Close : Outcome.Continue;
        }
    }

    private Outcome OnWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            return ConnectionError(FrameSizeError);
        }

        var increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff);
        lock (Sync)
        {
            if (streamId == 0)
            {
                if (increment == 0)
                {
                    return ConnectionError(ProtocolError);
                }

                _connectionSendWindow += increment;
                if (_connectionSendWindow > int.MaxValue)
                {
                    return ConnectionError(FlowControlError);
                }
            }
            else if (_streams.TryGetValue(streamId, out var stream))
            {
                if (increment == 0)
                {
                    ResetStreamLocked(stream, ProtocolError);
                }
                else
                {
                    stream.SendWindow += increment;
                    if (stream.SendWindow > int.MaxValue)
                    {
                        ResetStreamLocked(stream, FlowControlError);
                    }
                }
            }
            else if (streamId > _lastStreamId)
            {
                return ConnectionError(ProtocolError);
            }
        }

        WakeBlocked();
        return Outcome.Continue;
    }

    private int CountInWindow(ref int counter)
    {
        var now = Environment.TickCount64;
        if (now - _rateWindowStart >= 1000)
        {
            _rateWindowStart = now;
            _resetsInWindow = 0;
            _controlFramesInWindow = 0;
        }

        return ++counter;
    }

    private static bool Unpad(byte flags, ref ReadOnlySpan<byte> payload)
    {
        if ((flags & FlagPadded) == 0)
        {
            return true;
        }

        if (payload.Length < 1 || payload[0] >= payload.Length)
        {
            return false;
        }

        payload = payload[1..^payload[0]];
        return true;
    }

    /// <summary>A connection error: GOAWAY with the code, then the connection closes.</summary>
    private Outcome ConnectionError(int code)
    {
        Log.ConnectionError(_owner.Logger, code);
        Commit();
        SendGoAway(code);
        return Outcome.Close;
    }

    private void SendGoAway(int code, int lastStreamId = -1)
    {
        lock (Sync)
        {
            if (_goAwaySent && code == NoError)
            {
                return;
            }

            _goAwaySent = true;
            Span<byte> payload = stackalloc byte[8];
            BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId >= 0 ? lastStreamId : _lastStreamId);
            BinaryPrimitives.WriteInt32BigEndian(payload[4..], code);
            WriteFrame(GoAway, 0, 0, payload);
        }

        RequestFlush();
    }

    /// <summary>
    /// A stream the HTTP/1.1 bridge cannot serve (it needs an HTTP/2 upstream's trailers): REFUSED_STREAM, which tells
    /// the client nothing was processed, and GOAWAY, so it retries on a new connection; the listener's next HTTP/2
    /// connections go to Kestrel.
    /// </summary>
    internal void RefuseForKestrel(Http2Stream stream, string listenerName)
    {
        _owner.PreferKestrelForHttp2(listenerName);
        lock (Sync)
        {
            ResetStreamLocked(stream, RefusedStream);
        }

        stream.WakeReader();
        SendGoAway(NoError);
    }

    /// <summary>From now on this path serves the connection: what was queued (our SETTINGS first) may be sent.</summary>
    private void Commit()
    {
        if (_committed)
        {
            return;
        }

        lock (Sync)
        {
            _committed = true;
        }
    }

    /// <summary>The first request needs Kestrel's HTTP/2 server: everything read so far goes to it, nothing was written.</summary>
    private KestrelHandoff? HandOffWhole()
    {
        _owner.OnHandOff();
        return KestrelHandoff.TryDispatch(_owner.Transport, ListenerManager.Http2Endpoint, _socket.ForKestrel(), _in.AsSpan(0, _inEnd), _feature, out var handoff)
            ? handoff
            : null;
    }

    /// <summary>Closes the connection: open streams see their input end and their writes fail.</summary>
    private void Abort()
    {
        List<Http2Stream>? streams = null;
        lock (Sync)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            if (_streams.Count > 0)
            {
                streams = [.. _streams.Values];
                foreach (var stream in streams)
                {
                    stream.AbortLocked();
                }
            }
        }

        if (streams is not null)
        {
            foreach (var stream in streams)
            {
                stream.WakeReader();
            }
        }

        WakeBlocked();
        _socket.Shutdown();
        _socket.Dispose();
    }

    private void Release()
    {
        while (true)
        {
            Http2Stream? pooled;
            lock (Sync)
            {
                if (!_pool.TryPop(out pooled))
                {
                    break;
                }
            }

            pooled.ReleaseBuffers();
        }

        ArrayPool<byte>.Shared.Return(_in);
        ArrayPool<byte>.Shared.Return(_block);
        _in = [];
        _block = [];
        _idle.Dispose();
    }

    /// <summary>
    /// The proxy drains: GOAWAY (streams in flight finish, no new ones), and a connection with none open closes now.
    /// </summary>
    internal void OnDrain()
    {
        if (!_committed)
        {
            Commit();
        }

        SendGoAway(NoError);
        bool idle;
        lock (Sync)
        {
            idle = _active == 0;
        }

        if (idle)
        {
            CloseAfterFlush();
        }
    }

    /// <summary>
    /// Ends the connection once what is queued (GOAWAY above all) has been sent, by whichever thread sends it last: a
    /// shutdown from here while the loop's thread is still sending would cut the GOAWAY off.
    /// </summary>
    private void CloseAfterFlush()
    {
        bool now;
        lock (Sync)
        {
            _closeAfterFlush = true;
            now = !_flushing && (_outLength == 0 || !_committed);
        }

        if (now)
        {
            _socket.Shutdown();
            return;
        }

        FlushNow();
    }

    /// <summary>A stream's fast path (or Kestrel) is done with it.</summary>
    internal void OnStreamClosed(Http2Stream stream)
    {
        bool closeNow;
        lock (Sync)
        {
            if (!_streams.Remove(stream.Id))
            {
                return;
            }

            _active--;
            _blocked.Remove(stream);
            CreditConnectionLocked(stream.TakePendingCredit());
            closeNow = (_goAwaySent || _peerGoAway) && _active == 0 && !_closed;
        }

        if (closeNow)
        {
            // The read loop waits on the socket: ending it from here closes the connection once the flush is done.
            CloseAfterFlush();
        }
    }

    private static void WriteSetting(Span<byte> destination, int offset, ushort id, int value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], id);
        BinaryPrimitives.WriteInt32BigEndian(destination[(offset + 2)..], value);
    }

    private sealed class DiscardingSink : IHpackHeaderSink
    {
        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "HTTP/2 stream {StreamId} refused as malformed: {Reason}")]
        public static partial void Malformed(ILogger logger, int streamId, string reason);

        [LoggerMessage(EventId = 41, Level = LogLevel.Debug, Message = "HTTP/2 connection error {Code}: GOAWAY sent")]
        public static partial void ConnectionError(ILogger logger, int code);

        [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "HTTP/2 fast-path connection failed")]
        public static partial void Failed(ILogger logger, Exception ex);
    }
}
