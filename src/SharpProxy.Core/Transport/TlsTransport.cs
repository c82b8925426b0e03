using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http.Features;

namespace SharpProxy.Core.Transport;

/// <summary>
/// A TLS-terminated downstream connection on a worker's event loop: <see cref="SslStream"/> over the loop socket, so
/// HTTPS (and HTTP/2 over TLS) is served by the fast path like cleartext, with the handshake's facts for Kestrel when a
/// request is handed over.
/// </summary>
internal sealed class TlsTransport : IByteTransport, ITlsConnectionFeature
{
    private readonly LoopSocket _socket;
    private readonly SslStream _ssl;
    private static readonly Action<Task, object?> s_shutdownSocket = static (closing, socket) =>
    {
        _ = closing.Exception;
        ((LoopSocket)socket!).Shutdown();
    };

    private int _closed;
    private int _closeNotified;

    public TlsTransport(LoopSocket socket, SslStream ssl)
    {
        _socket = socket;
        _ssl = ssl;
    }

    public SslStream Ssl => _ssl;

    public SocketEventLoop? Loop => _socket.Loop;

    public EndPoint? LocalEndPoint => _socket.LocalEndPoint;

    public EndPoint? RemoteEndPoint => _socket.RemoteEndPoint;

    public string Protocol => "HTTP/1.1";

    public bool IsTls => true;

    /// <summary>The client's certificate (mutual TLS), for Kestrel's view of a handed-over connection.</summary>
    public X509Certificate2? ClientCertificate
    {
        get => _ssl.RemoteCertificate as X509Certificate2;
        set => throw new NotSupportedException("the client certificate comes from the handshake");
    }

    public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(ClientCertificate);

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => _ssl.ReadAsync(buffer, cancellationToken);

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) => _ssl.WriteAsync(data, cancellationToken);

    /// <summary>
    /// close_notify, then the TCP FIN (Envoy's SSL_shutdown): a client reading a body that the connection's end delimits
    /// can tell a whole one from a cut one only by it, and OpenSSL 3 reports an end without it as an error.
    /// </summary>
    public void Shutdown()
    {
        if (Interlocked.Exchange(ref _closeNotified, 1) == 0)
        {
            try
            {
                // The alert is one small record: on a writable socket it leaves within this call. If it has to wait, the
                // socket's own shutdown follows when it has left.
                var closing = _ssl.ShutdownAsync();
                if (!closing.IsCompleted)
                {
                    _ = closing.ContinueWith(s_shutdownSocket, _socket, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    return;
                }

                _ = closing.Exception;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or NotSupportedException or ObjectDisposedException)
            {
                // A write in progress or a connection already broken: the FIN alone, as before.
            }
        }

        _socket.Shutdown();
    }

    /// <summary>Stays on the loop: Kestrel's HTTP/1.1 server reads and writes the decrypted bytes through this object.</summary>
    public IByteTransport ForKestrel() => this;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _socket.Dispose();
        _ssl.Dispose();
    }
}

/// <summary>The loop socket as the <see cref="Stream"/> SslStream reads and writes (asynchronous calls only).</summary>
internal sealed class LoopSocketStream(LoopSocket socket) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        socket.ReceiveAsync(buffer, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        socket.SendAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        socket.ReceiveAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        socket.SendAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    // The event loop never blocks a thread on a socket.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous reads are not served on an event loop");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous writes are not served on an event loop");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
