using System.Buffers;
using System.Buffers.Binary;

namespace SharpProxy.Core.Http2;

/// <summary>
/// The connection's output: frames are appended to one buffer under the lock and leave in one send, at the end of the
/// event batch on the loop's thread (so responses of several streams finishing together share a syscall).
/// </summary>
internal sealed partial class Http2Connection
{
    /// <summary>Appends a frame to the output (lock held).</summary>
    private void WriteFrame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var needed = _outLength + FrameHeaderLength + payload.Length;
        if (needed > _out.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _out.Length * 2));
            Buffer.BlockCopy(_out, 0, larger, 0, _outLength);
            ArrayPool<byte>.Shared.Return(_out);
            _out = larger;
        }

        var frame = _out.AsSpan(_outLength);
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame[5..], streamId);
        payload.CopyTo(frame[FrameHeaderLength..]);
        _outLength = needed;
    }

    /// <summary>Queues a WINDOW_UPDATE (lock held).</summary>
    internal void QueueWindowUpdate(int streamId, int increment)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        WriteFrame(WindowUpdate, 0, streamId, payload);
    }

    private void QueueRstStream(int streamId, int code)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, code);
        WriteFrame(RstStream, 0, streamId, payload);
    }

    /// <summary>Resets the stream (RST_STREAM with <paramref name="code"/>): its reads end, its writes fail.</summary>
    internal void ResetStream(Http2Stream stream, int code)
    {
        lock (Sync)
        {
            ResetStreamLocked(stream, code);
        }

        stream.WakeReader();
        WakeBlocked();
        RequestFlush();
    }

    /// <summary>Gives the client back connection window for bytes no longer buffered here (lock held).</summary>
    internal void CreditConnectionLocked(int bytes)
    {
        _connectionConsumed += bytes;
        if (_connectionConsumed >= ConnectionReceiveWindow / 4 && !_closed)
        {
            QueueWindowUpdate(0, _connectionConsumed);
            _connectionReceiveWindow += _connectionConsumed;
            _connectionConsumed = 0;
        }
    }

    private void ResetStreamLocked(Http2Stream stream, int code)
    {
        // What it buffered will never be read: back to the connection's window.
        CreditConnectionLocked(stream.TakePendingCredit());
        if (stream.ResetSent)
        {
            return;
        }

        stream.ResetSent = true;
        if (!_closed)
        {
            QueueRstStream(stream.Id, code);
        }

        stream.AbortLocked();
    }

    /// <summary>A response head as HEADERS (and CONTINUATION frames when it exceeds the peer's frame size).</summary>
    internal void WriteHeaders(Http2Stream stream, ReadOnlySpan<byte> block, bool endStream)
    {
        lock (Sync)
        {
            if (_closed || stream.IsAborted)
            {
                return;
            }

            var first = Math.Min(block.Length, _peerMaxFrameSize);
            var flags = (byte)((endStream ? FlagEndStream : 0) | (first == block.Length ? FlagEndHeaders : 0));
            WriteFrame(Headers, flags, stream.Id, block[..first]);
            var offset = first;
            while (offset < block.Length)
            {
                var piece = Math.Min(block.Length - offset, _peerMaxFrameSize);
                WriteFrame(Continuation, offset + piece == block.Length ? FlagEndHeaders : (byte)0, stream.Id, block.Slice(offset, piece));
                offset += piece;
            }
        }
    }

    /// <summary>
    /// Response body bytes as DATA frames, as far as both flow-control windows and the output's high-water mark allow;
    /// returns how many were taken (the caller waits for credit for the rest).
    /// </summary>
    internal int WriteData(Http2Stream stream, ReadOnlySpan<byte> data, bool endStream)
    {
        lock (Sync)
        {
            if (_closed || stream.IsAborted)
            {
                return 0;
            }

            if (data.Length == 0)
            {
                if (endStream)
                {
                    WriteFrame(Data, FlagEndStream, stream.Id, default);
                }

                return 0;
            }

            var credit = Math.Min(Math.Min(stream.SendWindow, _connectionSendWindow), OutputHighWater - _outLength);
            if (credit <= 0)
            {
                return 0;
            }

            var allowed = (int)Math.Min(data.Length, credit);
            var offset = 0;
            while (offset < allowed)
            {
                var piece = Math.Min(allowed - offset, _peerMaxFrameSize);
                var last = offset + piece == allowed;
                WriteFrame(Data, last && endStream && allowed == data.Length ? FlagEndStream : (byte)0, stream.Id, data.Slice(offset, piece));
                offset += piece;
            }

            stream.SendWindow -= allowed;
            _connectionSendWindow -= allowed;
            return allowed;
        }
    }

    /// <summary>Completes once the stream may send again (window credit, output drained) or can never (reset, closed).</summary>
    internal ValueTask WaitForSendCreditAsync(Http2Stream stream, CancellationToken cancellationToken)
    {
        short version;
        var credit = stream.Credit;
        lock (Sync)
        {
            if (HasCreditLocked(stream))
            {
                return default;
            }

            credit.Reset();
            version = credit.Version;
            _blocked.Add(stream);
        }

        return new ValueTask(credit, version);
    }

    private bool HasCreditLocked(Http2Stream stream) =>
        _closed || stream.IsAborted || (stream.SendWindow > 0 && _connectionSendWindow > 0 && _outLength < OutputHighWater);

    /// <summary>Wakes the streams waiting for credit that now have some (call without the lock).</summary>
    private void WakeBlocked()
    {
        List<Http2Stream>? ready = null;
        lock (Sync)
        {
            for (var i = _blocked.Count - 1; i >= 0; i--)
            {
                var stream = _blocked[i];
                if (HasCreditLocked(stream))
                {
                    _blocked.RemoveAt(i);
                    (ready ??= []).Add(stream);
                }
            }
        }

        if (ready is not null)
        {
            foreach (var stream in ready)
            {
                stream.Credit.SetResult(0);
            }
        }
    }

    public void FlushDeferred()
    {
        lock (Sync)
        {
            _flushScheduled = false;
        }

        FlushNow();
    }

    /// <summary>Sends the output at the end of the loop's event batch (now, off the loop's thread).</summary>
    internal void RequestFlush()
    {
        var loop = _socket.Loop;
        if (loop is not null && loop.IsCurrentThread)
        {
            lock (Sync)
            {
                if (_flushScheduled)
                {
                    return;
                }

                _flushScheduled = true;
            }

            loop.DeferFlush(this);
            return;
        }

        FlushNow();
    }

    private void FlushNow()
    {
        byte[] sending;
        int length;
        lock (Sync)
        {
            if (!_committed || _flushing || _outLength == 0 || _closed)
            {
                return;
            }

            _flushing = true;
            sending = _out;
            length = _outLength;
            _out = _spare;
            _outLength = 0;
        }

        SendAndContinue(sending, length);
    }

    /// <summary>Sends, then whatever was queued meanwhile, until nothing is left; goes async only when the socket is full.</summary>
    private void SendAndContinue(byte[] sending, int length)
    {
        while (true)
        {
            ValueTask send;
            try
            {
                send = _socket.SendAsync(sending.AsMemory(0, length));
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                Abort();
                return;
            }

            if (!send.IsCompleted)
            {
                _ = AwaitSendAsync(send, sending);
                return;
            }

            if (!send.IsCompletedSuccessfully)
            {
                _ = send.AsTask().Exception;
                Abort();
                return;
            }

            lock (Sync)
            {
                if (_outLength == 0 || _closed)
                {
                    _spare = sending;
                    _flushing = false;
                    break;
                }

                var next = _out;
                length = _outLength;
                _out = sending;
                _outLength = 0;
                sending = next;
            }
        }

        AfterFlush();
    }

    /// <summary>Output drained: wake the writers waiting for room, and close if that was asked for.</summary>
    private void AfterFlush()
    {
        WakeBlocked();
        SignalDrained();
        bool close;
        lock (Sync)
        {
            close = _closeAfterFlush && !_flushing && _outLength == 0;
        }

        if (close)
        {
            _socket.Shutdown();
        }
    }

    private async Task AwaitSendAsync(ValueTask send, byte[] sending)
    {
        try
        {
            await send.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException or IOException)
        {
            Abort();
            return;
        }

        byte[] next;
        int length;
        lock (Sync)
        {
            if (_outLength == 0 || _closed)
            {
                _spare = sending;
                _flushing = false;
                next = [];
                length = 0;
            }
            else
            {
                next = _out;
                length = _outLength;
                _out = sending;
                _outLength = 0;
            }
        }

        if (length == 0)
        {
            AfterFlush();
            return;
        }

        SendAndContinue(next, length);
    }

    private Task WaitForDrainAsync()
    {
        lock (Sync)
        {
            if (_closed || _outLength <= OutputHighWater * 4)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task;
        }
    }

    private void SignalDrained()
    {
        TaskCompletionSource? drained;
        lock (Sync)
        {
            drained = _drained;
            _drained = null;
        }

        drained?.TrySetResult();
    }
}
