using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// The sidecar readiness probe (Istio's <c>:15021/healthz/ready</c>): answers <c>GET /healthz/ready</c> with 200 when
/// <c>isReady</c> says so and 503 otherwise, any other path with 404, then closes. Served on its own socket, not through
/// Kestrel, so that it keeps answering 503 while the proxy drains (Kestrel stops taking connections at once).
/// </summary>
internal sealed partial class ReadinessListener : IDisposable
{
    public const string Path = "/healthz/ready";

    private const int MaxRequestBytes = 8 * 1024;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly Func<bool> _isReady;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();

    private ReadinessListener(Socket socket, Func<bool> isReady, ILogger logger)
    {
        _socket = socket;
        _isReady = isReady;
        _logger = logger;
        _ = AcceptLoopAsync();
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <exception cref="InvalidOperationException">The address is not an IP or the port cannot be bound.</exception>
    public static ReadinessListener Bind(string address, int port, Func<bool> isReady, ILogger logger)
    {
        if (!IPAddress.TryParse(address, out var ip))
        {
            throw new InvalidOperationException($"readiness listener: address '{address}' is not an IP address");
        }

        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(ip, port));
            socket.Listen(128);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"readiness listener: cannot bind {address}:{port}: {ex.Message}", ex);
        }

        return new ReadinessListener(socket, isReady, logger);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log.AcceptFailed(_logger, ex.SocketErrorCode);
                await Task.Delay(10).ConfigureAwait(false);
                continue;
            }

            _ = AnswerAsync(client);
        }
    }

    private async Task AnswerAsync(Socket client)
    {
        using (client)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(RequestTimeout);
                var buffer = new byte[MaxRequestBytes];
                var length = 0;
                while (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) < 0)
                {
                    if (length == buffer.Length)
                    {
                        await RespondAsync(client, 431, "request too large\n", timeout.Token).ConfigureAwait(false);
                        return;
                    }

                    var read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return;
                    }

                    length += read;
                }

                var head = buffer.AsSpan(0, length);
                var (status, body) = Classify(head, _isReady());

                // A HEAD response carries the headers of the GET, without the body.
                await RespondAsync(client, status, body, timeout.Token, withBody: !head.StartsWith("HEAD "u8)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Status and body for a request head: 200/503 for GET or HEAD of <see cref="Path"/>, 404 or 405 otherwise.</summary>
    internal static (int Status, string Body) Classify(ReadOnlySpan<byte> head, bool ready)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = Encoding.ASCII.GetString(lineEnd >= 0 ? head[..lineEnd] : head);
        var parts = requestLine.Split(' ');
        if (parts.Length != 3)
        {
            return (400, "bad request\n");
        }

        var target = parts[1];
        var query = target.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            target = target[..query];
        }

        if (!string.Equals(target, Path, StringComparison.Ordinal))
        {
            return (404, "not found\n");
        }

        if (parts[0] is not ("GET" or "HEAD"))
        {
            return (405, "method not allowed\n");
        }

        return ready ? (200, "LIVE\n") : (503, "NOT READY\n");
    }

    private static async Task RespondAsync(Socket client, int status, string body, CancellationToken cancellationToken, bool withBody = true)
    {
        var reason = status switch
        {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        var response = $"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {body.Length}\r\nconnection: close\r\n\r\n{(withBody ? body : "")}";
        await client.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        client.Shutdown(SocketShutdown.Send);
    }

    private static partial class Log
    {
        [LoggerMessage(5120, LogLevel.Warning, "Readiness listener: accept failed with {Error}")]
        public static partial void AcceptFailed(ILogger logger, SocketError error);
    }
}
