using System.Net;

namespace SharpProxy.Core.Transport;

/// <summary>
/// A downstream byte stream the HTTP/1.1 fast path serves: a socket on a worker's event loop, or one HTTP/2 stream of a
/// fast-path HTTP/2 connection, seen as an HTTP/1.1 exchange.
/// </summary>
internal interface IByteTransport : IDisposable
{
    /// <summary>The worker loop whose thread runs the continuations (upstream connections join it); null = .NET's engine.</summary>
    SocketEventLoop? Loop { get; }

    EndPoint? LocalEndPoint { get; }

    EndPoint? RemoteEndPoint { get; }

    /// <summary>The access log's %PROTOCOL%: HTTP/1.1, or HTTP/2 for a stream.</summary>
    string Protocol { get; }

    /// <summary>TLS-terminated here: the request's scheme is https (x-forwarded-proto, :scheme matches, logs).</summary>
    bool IsTls { get; }

    /// <summary>Reads what is there (at least one byte), or 0 at the end of the stream.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes all of <paramref name="data"/>.</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>Ends both directions (the peer sees the end of the stream); then <see cref="IDisposable.Dispose"/> frees it.</summary>
    void Shutdown();

    /// <summary>
    /// The transport Kestrel's HTTP/1.1 server continues on after a hand-off: a socket leaves its event loop for .NET's
    /// engine; a stream stays itself.
    /// </summary>
    IByteTransport ForKestrel();
}
