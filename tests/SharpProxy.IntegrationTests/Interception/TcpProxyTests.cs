using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// envoy.filters.network.tcp_proxy through the real proxy on loopback with real sockets: byte-exact relay, half-close both
/// ways, idle timeout, connect failure, max_connect_attempts and weighted clusters.
/// </summary>
public sealed class TcpProxyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Relay_LargePayload_ArrivesByteExactBothWays()
    {
        using var upstream = TagServer.Listen("echo", new IPEndPoint(IPAddress.Loopback, 0));
        await using var proxy = await StartAsync(Cluster("c", upstream.EndPoint.Port), "cluster: c");
        using var client = await ConnectAsync(proxy);
        using var timeout = new CancellationTokenSource(Bound);
        Assert.StartsWith("echo ", await TagClient.ReadLineAsync(client, timeout.Token), StringComparison.Ordinal);

        var payload = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var send = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += 100_000)
            {
                await client.SendAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)), SocketFlags.None, timeout.Token);
            }

            client.Shutdown(SocketShutdown.Send);
        });
        var received = await ReadAllBytesAsync(client, timeout.Token);
        await send;

        Assert.Equal(payload.Length, received.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));

        // Istio's TCP metrics count the relay once the connection has closed.
        client.Dispose();
        long Metric(string text, string name)
        {
            long total = 0;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith(name + "{", StringComparison.Ordinal))
                {
                    total += (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }

            return total;
        }

        string metrics = "";
        await Polling.UntilAsync(
            async () =>
            {
                metrics = (await proxy.AdminGetAsync("/stats/prometheus")).Body;
                return Metric(metrics, "istio_tcp_connections_closed_total") >= 1;
            },
            Bound,
            "istio_tcp_connections_closed_total counted");
        Assert.Equal(1, Metric(metrics, "istio_tcp_connections_opened_total"));
        Assert.True(Metric(metrics, "istio_tcp_received_bytes_total") >= payload.Length, metrics);
        Assert.True(Metric(metrics, "istio_tcp_sent_bytes_total") >= payload.Length, metrics);
    }

    [Fact]
    public async Task HalfClose_DownstreamFin_UpstreamStillAnswers()
    {
        // The upstream answers only after it saw the client's FIN: that proves the FIN was passed on and that the
        // upstream-to-client direction stayed open.
        using var upstream = TestTcpServer.Start(async socket =>
        {
            var received = (await TagClient.ReadToEndAsync(socket, CancellationToken.None)).Length;
            await socket.SendAsync(Encoding.ASCII.GetBytes("received " + received.ToString(CultureInfo.InvariantCulture) + "\n"), SocketFlags.None);
        });
        await using var proxy = await StartAsync(Cluster("c", upstream.Port), "cluster: c");
        using var client = await ConnectAsync(proxy);
        using var timeout = new CancellationTokenSource(Bound);

        await client.SendAsync(new byte[12345], SocketFlags.None, timeout.Token);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("received 12345\n", await TagClient.ReadToEndAsync(client, timeout.Token));
    }

    [Fact]
    public async Task HalfClose_UpstreamFin_DownstreamCanStillSend()
    {
        var receivedAfterFin = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var upstream = TestTcpServer.Start(async socket =>
        {
            await socket.SendAsync("bye\n"u8.ToArray(), SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
            receivedAfterFin.TrySetResult((await TagClient.ReadToEndAsync(socket, CancellationToken.None)).Length);
        });
        await using var proxy = await StartAsync(Cluster("c", upstream.Port), "cluster: c");
        using var client = await ConnectAsync(proxy);
        using var timeout = new CancellationTokenSource(Bound);

        // The upstream's FIN reaches the client as end of stream ...
        Assert.Equal("bye\n", await TagClient.ReadToEndAsync(client, timeout.Token));

        // ... and the client's bytes still reach the upstream afterwards.
        await client.SendAsync(new byte[777], SocketFlags.None, timeout.Token);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(777, await receivedAfterFin.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task IdleTimeout_ClosesBothSides()
    {
        var upstreamSawClose = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var upstream = TestTcpServer.Start(async socket =>
        {
            try
            {
                await TagClient.ReadToEndAsync(socket, CancellationToken.None);
            }
            catch (SocketException)
            {
            }

            upstreamSawClose.TrySetResult();
        });
        await using var proxy = await StartAsync(Cluster("c", upstream.Port), "cluster: c, idle_timeout: 1s");
        using var client = await ConnectAsync(proxy);
        using var timeout = new CancellationTokenSource(Bound);

        // Nothing is sent: the proxy closes the client side and the upstream side by itself.
        var clientEnd = await ReadUntilClosedAsync(client, timeout.Token);
        await upstreamSawClose.Task.WaitAsync(Bound);

        Assert.Equal(0, clientEnd);
    }

    [Fact]
    public async Task ConnectFailure_ClosesDownstream()
    {
        var closedPort = await TcpProbe.GetClosedPortAsync();
        await using var proxy = await StartAsync(Cluster("c", closedPort), "cluster: c");
        using var client = await ConnectAsync(proxy);
        using var timeout = new CancellationTokenSource(Bound);

        Assert.Equal(0, await ReadUntilClosedAsync(client, timeout.Token));
    }

    [Fact]
    public async Task MaxConnectAttempts_SecondHostTriedAfterFailure()
    {
        var closedPort = await TcpProbe.GetClosedPortAsync();
        using var upstream = TagServer.Listen("live", new IPEndPoint(IPAddress.Loopback, 0));
        // Round robin over a dead and a live endpoint: with two attempts every connection reaches the live one.
        var cluster = "{ name: c, type: STATIC, connect_timeout: 2s, load_assignment: { cluster_name: c, endpoints: [ { lb_endpoints: [ "
            + Endpoint(closedPort) + ", " + Endpoint(upstream.EndPoint.Port) + " ] } ] } }";
        await using var proxy = await StartAsync(cluster, "cluster: c, max_connect_attempts: 2");

        for (var i = 0; i < 6; i++)
        {
            using var client = await ConnectAsync(proxy);
            using var timeout = new CancellationTokenSource(Bound);
            Assert.StartsWith("live ", await TagClient.ReadLineAsync(client, timeout.Token), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WeightedClusters_BothClustersReceiveConnections()
    {
        using var a = TagServer.Listen("a", new IPEndPoint(IPAddress.Loopback, 0));
        using var b = TagServer.Listen("b", new IPEndPoint(IPAddress.Loopback, 0));
        await using var proxy = await StartAsync(
            Cluster("a", a.EndPoint.Port) + "\n  - " + Cluster("b", b.EndPoint.Port),
            "weighted_clusters: { clusters: [ { name: a, weight: 1 }, { name: b, weight: 1 } ] }");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 40 && seen.Count < 2; i++)
        {
            using var client = await ConnectAsync(proxy);
            using var timeout = new CancellationTokenSource(Bound);
            seen.Add((await TagClient.ReadLineAsync(client, timeout.Token)).Split(' ')[0]);
        }

        Assert.Equal(["a", "b"], seen.Order(StringComparer.Ordinal));
    }

    private static string Endpoint(int port) =>
        "{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: " + port.ToString(CultureInfo.InvariantCulture) + " } } } }";

    private static string Cluster(string name, int port) =>
        "{ name: " + name + ", type: STATIC, connect_timeout: 2s, load_assignment: { cluster_name: " + name + ", endpoints: [ { lb_endpoints: [ " + Endpoint(port) + " ] } ] } }";

    private static async Task<ProxyProcess> StartAsync(string clusters, string tcpProxyFields)
    {
        var yaml = $$"""
            admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
            static_resources:
              listeners:
              - name: tcp
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
                filter_chains:
                - filters:
                  - name: envoy.filters.network.tcp_proxy
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: tcp, {{tcpProxyFields}} }
              clusters:
              - {{clusters}}
            """;
        using var config = ConfigWriter.WriteText(yaml);
        return await ProxyProcess.StartAsync(config.Path);
    }

    private static async Task<Socket> ConnectAsync(ProxyProcess proxy)
    {
        var port = await proxy.GetListenerPortAsync("tcp");
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    /// <summary>Reads until end of stream; returns the byte count (a reset counts as the end too).</summary>
    private static async Task<int> ReadUntilClosedAsync(Socket socket, CancellationToken cancellationToken)
    {
        var total = 0;
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return total;
                }

                total += read;
            }
        }
        catch (SocketException)
        {
            return total;
        }
    }

    private static async Task<byte[]> ReadAllBytesAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, read);
        }
    }
}

/// <summary>A loopback TCP server that runs <c>handler</c> on each accepted connection, then closes it.</summary>
internal sealed class TestTcpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, Task> _handler;
    private readonly CancellationTokenSource _stop = new();

    private TestTcpServer(Socket listener, Func<Socket, Task> handler)
    {
        _listener = listener;
        _handler = handler;
        _ = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public static TestTcpServer Start(Func<Socket, Task> handler)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(16);
        return new TestTcpServer(socket, handler);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (accepted)
                {
                    try
                    {
                        await _handler(accepted);
                    }
                    catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                    {
                    }
                }
            });
        }
    }
}
