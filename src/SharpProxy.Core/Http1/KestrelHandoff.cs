using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Http1;

/// <summary>
/// Gives a connection the HTTP/1.1 fast path has started reading to Kestrel, bytes already read included, so Kestrel
/// and the full request pipeline serve it from that request on (HTTP/2 prior knowledge, upgrades, anything the fast
/// path does not handle itself). Only ever done between requests: nothing of a response has been written.
/// </summary>
/// <remarks>
/// Two pipes stand between the socket and Kestrel, fed by two pumps; that costs a copy each way, which is why only the
/// connections that need Kestrel take this way.
/// </remarks>
internal sealed class KestrelHandoff : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionEndPointFeature, IConnectionLifetimeFeature
{
    private static long s_nextId;

    private readonly IByteTransport _socket;
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false));
    private readonly CancellationTokenSource _closed = new();
    private readonly FeatureCollection _features = new();
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _disposed;

    private KestrelHandoff(IByteTransport socket)
    {
        _socket = socket;
        ConnectionId = "fastpath-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _closed.Token;
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionEndPointFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    /// <summary>
    /// Queues the connection on Kestrel's <paramref name="endpoint"/>; <paramref name="buffered"/> is what the fast path
    /// read and did not consume. False (socket closed) when Kestrel is not accepting.
    /// </summary>
    public static bool TryDispatch(DispatchTransport transport, string endpoint, IByteTransport socket, ReadOnlySpan<byte> buffered, ProxyConnectionFeature feature, out KestrelHandoff connection)
    {
        connection = new KestrelHandoff(socket);
        connection._features.Set(feature);
        if (socket is Microsoft.AspNetCore.Http.Features.ITlsConnectionFeature tls)
        {
            // Terminated by the fast path: Kestrel sees an https connection with the client's certificate.
            connection._features.Set(tls);
        }
        if (buffered.Length > 0)
        {
            // The pipe's default segment pool takes it whole; the reader sees it before anything from the socket.
            buffered.CopyTo(connection._input.Writer.GetSpan(buffered.Length));
            connection._input.Writer.Advance(buffered.Length);
        }

        connection._receiving = connection.ReceiveAsync(buffered.Length > 0);
        connection._sending = connection.SendAsync();
        if (!transport.TryDispatch(endpoint, connection))
        {
            connection.Abort();
            return false;
        }

        return true;
    }

    public override void Abort(ConnectionAbortedException abortReason) => Close();

    public override void Abort() => Close();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Kestrel is done: whatever it wrote is flushed by the send pump, then the socket closes.
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _sending.ConfigureAwait(false);
        }
        finally
        {
            Close();
            await _receiving.ConfigureAwait(false);
            _closed.Dispose();
        }
    }

    private void Close()
    {
        _socket.Shutdown();
        _socket.Dispose();
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed after the pumps finished.
        }
    }

    private async Task ReceiveAsync(bool flushFirst)
    {
        var writer = _input.Writer;
        try
        {
            if (flushFirst)
            {
                await writer.FlushAsync().ConfigureAwait(false);
            }

            while (true)
            {
                var memory = writer.GetMemory(4096);
                var read = await _socket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                var flushed = await writer.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }

            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            await writer.CompleteAsync(new ConnectionResetException(ex.Message, ex)).ConfigureAwait(false);
        }
    }

    private async Task SendAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await _socket.SendAsync(segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone; Kestrel learns it from the receive side.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            Close();
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
