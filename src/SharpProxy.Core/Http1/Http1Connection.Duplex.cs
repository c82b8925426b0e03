using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Http1;

/// <summary>
/// Full-duplex request bodies: the rest of a Content-Length body is pumped from the client to the upstream while the
/// try reads and relays the response, so an upstream that answers before it has read the whole body (an early 413, an
/// echo larger than the socket buffers) is not left waiting on the proxy.
/// </summary>
/// <remarks>
/// The pump uses the downstream's receive side and the upstream's send side; the response relay the upstream's receive
/// side and the downstream's send side. A <see cref="LoopSocket"/> parks one read and one write at a time, each with its
/// own state, so the two run side by side on the loop's thread. The pump is an async method on the reusable builder,
/// started without awaiting and joined (awaited exactly once) before the try ends: no Task per request.
/// A response that is complete before the request body has been received is what Envoy calls a premature response:
/// its HTTP/1 connection manager sends it with <c>connection: close</c> and closes the downstream connection after it
/// (ConnectionManagerImpl::ActiveStream::encodeHeaders when the request is not remote-complete, counter
/// downstream_rq_response_before_rq_complete), and its router resets the upstream request (Filter::onUpstreamComplete
/// without downstream end of stream), so that upstream connection is not reused. This path does the same, and before it
/// closes the downstream connection it half-closes it and discards what the client still sends for up to one second
/// (Envoy's delayed_close_timeout default), so that the close does not turn into a reset that loses the response.
/// </remarks>
internal sealed partial class Http1Connection
{
    /// <summary>Envoy's default delayed_close_timeout: how long a closing connection waits for the client to stop.</summary>
    private static readonly TimeSpan DelayedCloseTimeout = TimeSpan.FromSeconds(1);

    private ValueTask _pump;
    private bool _pumping;
    private Http1UpstreamConnection? _pumpUpstream;
    private volatile bool _pumpStopping;
    private volatile bool _pumpComplete;
    private bool _pumpDownstreamFailed;
    private bool _lingerBeforeClose;

    /// <summary>Starts pumping the rest of the body to <paramref name="upstream"/>; the caller joins it with <see cref="FinishPumpAsync"/> or <see cref="StopPumpAsync"/>.</summary>
    private void StartPump(Http1UpstreamConnection upstream)
    {
        _pumpUpstream = upstream;
        _pumpStopping = false;
        _pumpComplete = false;
        _pumpDownstreamFailed = false;
        _pumping = true;
        _pump = PumpRequestBodyAsync(upstream.Socket);
    }

    /// <summary>
    /// The response is complete: joins the pump. Returns whether the upstream connection carried the whole request (and
    /// so may be reused). A pump still running is a premature response: the upstream connection is closed and the pump
    /// stopped; the downstream connection closes after the response (ServeRequestAsync sees the body unfinished).
    /// </summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> FinishPumpAsync()
    {
        if (!_pump.IsCompleted)
        {
            await StopPumpAsync().ConfigureAwait(false);
            return false;
        }

        _pumping = false;
        _pumpUpstream = null;
        var pump = _pump;
        _pump = default;
        await pump.ConfigureAwait(false);
        return _pumpComplete;
    }

    /// <summary>Stops the pump (it may have ended already) and joins it; the upstream connection is not reusable after.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask StopPumpAsync()
    {
        if (!_pumping)
        {
            return;
        }

        _pumping = false;
        if (!_pump.IsCompleted)
        {
            // The pump waits on the client (a receive on the timer's token) or on the upstream (a send): closing the
            // upstream socket fails the send, cancelling the timer the receive. The caller resets the timer after the try.
            _pumpStopping = true;
            _pumpUpstream!.Socket.Dispose();
            try
            {
                _timer.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Not replaced while a try runs; nothing to cancel.
            }
        }

        _pumpUpstream = null;
        var pump = _pump;
        _pump = default;
        await pump.ConfigureAwait(false);
    }

    /// <summary>The rest of a Content-Length body, from the client to the upstream as it arrives. Never throws: outcomes are in fields.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask PumpRequestBodyAsync(LoopSocket upstream)
    {
        // Everything buffered so far was the head and the start of the body (sent already): the buffer is free for
        // the rest, and nothing of this request is left in it.
        _start = _end = 0;
        _bodyInBuffer = -1;
        _headEnd = 0;
        var remaining = _bodyToStream;
        while (remaining > 0)
        {
            int read;
            try
            {
                read = await _socket.ReceiveAsync(_buffer.AsMemory(), _timer.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                OnPumpDownstreamFailed(upstream);
                return;
            }

            if (read == 0)
            {
                // The client closed the connection mid-body.
                OnPumpDownstreamFailed(upstream);
                return;
            }

            var forBody = (int)Math.Min(read, remaining);
            remaining -= forBody;

            // Counted as received from the client before it is sent on: "the request is complete" (connection: close on a
            // response head, Envoy's remote-complete) is about the client's side.
            Volatile.Write(ref _bodyToStream, remaining);
            _log.BytesReceived += forBody;
            if (forBody < read)
            {
                // The next pipelined request already began.
                _start = forBody;
                _end = read;
            }

            if (remaining == 0)
            {
                OnRequestComplete();
            }

            try
            {
                await upstream.SendAsync(_buffer.AsMemory(0, forBody)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
            {
                // The upstream closed or reset: the response relay sees what it sent, or the reset.
                return;
            }
        }

        _pumpComplete = true;
    }

    /// <summary>The client has sent the whole body (Envoy's downstream end of stream): the request ends, its timeouts start.</summary>
    private void OnRequestComplete()
    {
        var now = Stopwatch.GetTimestamp();
        _log.RequestEndTimestamp = now;
        if (_pumpStopping)
        {
            return;
        }

        // Envoy's route and per-try timeouts start once the request is complete; until now only the idle timeout ran
        // (they also bound the last send, should the upstream stop reading). The relay waits on this timer's token, so
        // it is re-armed, never replaced.
        try
        {
            _timer.CancelAfter(Timeout.InfiniteTimeSpan);
            ArmTimer(DeadlineAfter(_routeTimeout, now), _perTryTimeout, now);
        }
        catch (ObjectDisposedException)
        {
            // The connection is being torn down.
        }
    }

    private void OnPumpDownstreamFailed(LoopSocket upstream)
    {
        if (_pumpStopping)
        {
            // Stopped by the try: not the client's doing.
            return;
        }

        _pumpDownstreamFailed = true;
        _downstreamFailed = true;

        // Without the rest of the body the upstream may never finish its response: closing its socket ends the relay's
        // wait now (the relay owns the connection's buffer, so only the socket is closed here).
        upstream.Dispose();
    }

    /// <summary>
    /// Closing after a response while the client may still be sending the request body: half-close (the client sees the
    /// end of the response) and discard what arrives until the client closes, for at most <see cref="DelayedCloseTimeout"/>,
    /// so the close is not a reset that could destroy the response before the client read it. Plain sockets only: an
    /// HTTP/2 stream is ended with RST_STREAM NO_ERROR by the stream itself, and TLS closes at once as before.
    /// </summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask DiscardUnreadBodyAsync()
    {
        _lingerBeforeClose = false;
        if (_socket is not LoopSocket socket)
        {
            return;
        }

        try
        {
            socket.Socket.Shutdown(SocketShutdown.Send);
            ResetTimer();
            _timer.CancelAfter(DelayedCloseTimeout);
            _start = _end = 0;
            while (await socket.ReceiveAsync(_buffer.AsMemory(), _timer.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client reset, or it kept sending past the bound: the socket closes now.
        }
    }
}
