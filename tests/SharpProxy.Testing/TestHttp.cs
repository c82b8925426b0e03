using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Testing;

/// <summary>HttpClient factories for loopback tests: never a system proxy, no redirects, bounded timeouts.</summary>
public static class TestHttp
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static SocketsHttpHandler CreateHandler(int maxConnectionsPerServer = int.MaxValue) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        MaxConnectionsPerServer = maxConnectionsPerServer,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    /// <summary>
    /// A ConnectCallback that dials 127.0.0.1:<paramref name="port"/> whatever host the URL names, so a TLS test can
    /// address the proxy by a server name (SNI, certificate checks) without a resolver.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectToLoopback(int port) =>
        async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    /// <summary>HTTP/1.1 client (exact version).</summary>
    public static HttpClient Http1(Uri baseAddress, TimeSpan? timeout = null, int maxConnectionsPerServer = int.MaxValue) =>
        Create(baseAddress, HttpVersion.Version11, timeout, maxConnectionsPerServer);

    /// <summary>HTTP/2 cleartext with prior knowledge (h2c, no upgrade): Version 2.0, RequestVersionExact.</summary>
    public static HttpClient H2c(Uri baseAddress, TimeSpan? timeout = null) =>
        Create(baseAddress, HttpVersion.Version20, timeout, int.MaxValue);

    public static HttpClient Create(Uri baseAddress, Version version, TimeSpan? timeout, int maxConnectionsPerServer)
    {
        var handler = CreateHandler(maxConnectionsPerServer);
        if (version == HttpVersion.Version20)
        {
            handler.EnableMultipleHttp2Connections = false;
        }

        return new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = baseAddress,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = timeout ?? DefaultTimeout,
        };
    }
}

public static class HttpClientTestExtensions
{
    /// <summary>
    /// A request carrying the client's default version and version policy. <c>new HttpRequestMessage()</c> is HTTP/1.1
    /// whatever the client's defaults say; only the convenience methods (GetAsync, PostAsync ...) apply them.
    /// </summary>
    public static HttpRequestMessage CreateRequest(this HttpClient client, HttpMethod method, string requestUri, HttpContent? content = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        return new HttpRequestMessage(method, requestUri)
        {
            Version = client.DefaultRequestVersion,
            VersionPolicy = client.DefaultVersionPolicy,
            Content = content,
        };
    }
}
