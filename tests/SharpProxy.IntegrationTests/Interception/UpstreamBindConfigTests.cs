using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// Cluster upstream_bind_config.source_address: upstream connections (HTTP pools and tcp_proxy alike) leave from the
/// configured source, as Istio's inbound clusters leave from 127.0.0.6.
/// </summary>
public sealed class UpstreamBindConfigTests
{
    [Fact]
    public async Task TcpProxy_UpstreamSeesBoundSource()
    {
        using var upstream = TagServer.Listen("app", new IPEndPoint(IPAddress.Loopback, 0));
        await using var proxy = await StartAsync(upstream.EndPoint.Port, TcpProxyFilter);
        var port = await proxy.GetListenerPortAsync("main");
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        Assert.StartsWith("app 127.0.0.6:", await TagClient.ReadLineAsync(client, timeout.Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http_UpstreamSeesBoundSource()
    {
        // A minimal HTTP/1.1 app that answers with the peer address it saw.
        using var upstream = TestTcpServer.Start(async socket =>
        {
            var request = new StringBuilder();
            var buffer = new byte[4096];
            while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                request.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            var peer = ((IPEndPoint)socket.RemoteEndPoint!).Address.ToString();
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {peer.Length}\r\nConnection: close\r\n\r\n{peer}"), SocketFlags.None);
        });
        await using var proxy = await StartAsync(upstream.Port, HttpFilter);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };

        var body = await client.GetStringAsync(await proxy.GetListenerUriAsync("main"));

        Assert.Equal("127.0.0.6", body);
    }

    private const string TcpProxyFilter =
        "{ name: envoy.filters.network.tcp_proxy, typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: app } }";

    private const string HttpFilter = """
        { name: envoy.filters.network.http_connection_manager, typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: h, route_config: { virtual_hosts: [ { name: all, domains: [ '*' ], routes: [ { match: { prefix: / }, route: { cluster: app } } ] } ] }, http_filters: [ { name: envoy.filters.http.router, typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } } ] } }
        """;

    private static async Task<ProxyProcess> StartAsync(int upstreamPort, string filter)
    {
        var yaml = $$"""
            admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
            static_resources:
              listeners:
              - name: main
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
                filter_chains: [ { filters: [ {{filter.Trim()}} ] } ]
              clusters:
              - name: app
                type: STATIC
                connect_timeout: 2s
                upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } }
                load_assignment:
                  cluster_name: app
                  endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{upstreamPort.ToString(CultureInfo.InvariantCulture)}} } } } } ] } ]
            """;
        using var config = ConfigWriter.WriteText(yaml);
        return await ProxyProcess.StartAsync(config.Path);
    }
}
