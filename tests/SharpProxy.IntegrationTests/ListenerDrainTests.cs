using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// A listener removed by an LDS push drains as Envoy's does: it stops accepting at once, its open connections keep
/// being served on its old config (each closed after its next response), and connections still open when
/// --drain-time-s ends are closed.
/// </summary>
public sealed class ListenerDrainTests(ITestOutputHelper output)
{
    private const string Request = "GET /drain HTTP/1.1\r\nHost: reviews\r\n\r\n";

    [Fact]
    public async Task ListenerRemoved_StopsAccepting_OpenConnectionServedThenClosed_IdleConnectionClosedAfterDrainTime()
    {
        await using var v1 = await EchoUpstream.StartAsync("v1");
        await using var xds = await XdsTestServer.StartAsync();
        xds.Set(XdsTestServer.ClusterType, "1", XdsResources.EdsCluster("v1"));
        xds.Set(XdsTestServer.EndpointType, "1", XdsResources.Assignment("v1", v1.Http1Port));
        xds.Set(XdsTestServer.ListenerType, "1", XdsResources.RdsListener("drained", "route"), XdsResources.RdsListener("kept", "route"));
        xds.Set(XdsTestServer.RouteType, "1", XdsResources.WeightedRoute("route", ("v1", 100)));
        await using var proxy = await StartProxyAsync(xds.Port, drainSeconds: 3);
        var port = await proxy.GetListenerPortAsync("drained");

        using var busy = await ConnectAsync(port);
        using var idle = await ConnectAsync(port);
        await using var busyStream = new NetworkStream(busy, ownsSocket: false);
        await using var idleStream = new NetworkStream(idle, ownsSocket: false);
        Assert.Equal(200, (await SendAsync(busyStream)).StatusCode);
        Assert.Equal(200, (await SendAsync(idleStream)).StatusCode);

        xds.Set(XdsTestServer.ListenerType, "2", XdsResources.RdsListener("kept", "route"));
        await Polling.UntilAsync(
            async () => await TcpProbe.TryConnectAsync(port, TimeSpan.FromSeconds(1)) == ConnectOutcome.Refused,
            TimeSpan.FromSeconds(20),
            "the removed listener to stop accepting");

        // The open connection is still served by the removed listener's config, and told to close.
        var served = await SendAsync(busyStream);
        output.WriteLine($"after removal: {served.StatusLine}, connection: {served.Header("connection")}");
        Assert.Equal(200, served.StatusCode);
        Assert.Equal("v1", served.Header(EchoUpstream.LabelHeader));
        Assert.Equal("close", served.Header("connection"));
        Assert.True(await ClosedByPeerAsync(busyStream, TimeSpan.FromSeconds(10)), "the served connection stayed open");

        // The idle one is closed when the drain time (3 s) ends.
        Assert.True(await ClosedByPeerAsync(idleStream, TimeSpan.FromSeconds(30)), "the idle connection was not closed after the drain time");
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    private static async Task<RawHttpResponse> SendAsync(NetworkStream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(Request), timeout.Token);
        return await RawHttp.ReadResponseAsync(stream, timeout.Token);
    }

    /// <summary>True when the peer closed (EOF or reset) within <paramref name="limit"/>.</summary>
    private static async Task<bool> ClosedByPeerAsync(NetworkStream stream, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                if (await stream.ReadAsync(buffer, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task<ProxyProcess> StartProxyAsync(int xdsPort, int drainSeconds)
    {
        var config = ConfigWriter.WriteText($$"""
            node:
              id: "sidecar~127.0.0.1~test.default~default.svc.cluster.local"
              cluster: test
            admin:
              address:
                socket_address: { address: 127.0.0.1, port_value: 0 }
            dynamic_resources:
              ads_config:
                api_type: DELTA_GRPC
                transport_api_version: V3
                grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ]
              cds_config: { ads: {}, resource_api_version: V3 }
              lds_config: { ads: {}, resource_api_version: V3 }
            static_resources:
              clusters:
              - name: xds-grpc
                type: STATIC
                connect_timeout: 1s
                load_assignment:
                  cluster_name: xds-grpc
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{xdsPort}} } } }
            """);
        try
        {
            return await ProxyProcess.StartAsync(config.Path, ["--concurrency", "2", "--drain-time-s", drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        finally
        {
            config.Dispose();
        }
    }
}
