using System.Globalization;
using System.Net;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// The listener side of transparent interception: the real proxy inside a network namespace the test creates: an iptables
/// REDIRECT sends connections to a use_original_dst listener on 15001, which reads SO_ORIGINAL_DST and hands each
/// connection to the bind_to_port:false listener for its exact ip:port, else 0.0.0.0:port, else keeps it; chain
/// selection sees the original destination; ORIGINAL_DST connects there from the upstream_bind_config source.
/// </summary>
public sealed class OriginalDestinationHandOffTests
{
    [NetnsFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Redirected_HandedToListenerOfOriginalDestination()
    {
        using var ns = TestNetns.Create("handoff");
        ns.Must("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb");
        ns.Must("ip", "addr", "add", "10.99.0.2/24", "dev", "va");
        ns.Must("ip", "link", "set", "va", "up");
        ns.Must("ip", "link", "set", "vb", "up");
        ns.Must("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "10.99.0.0/24", "-j", "REDIRECT", "--to-ports", "15001");
        // The proxy's passthrough leaves from 127.0.0.6 and must not be captured again (Istio's loop guard).
        ns.Must("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.9", "--dport", "7300", "!", "-s", "127.0.0.6", "-j", "REDIRECT", "--to-ports", "15001");

        var servers = ns.Run(() => new[]
        {
            TagServer.Listen("own", new IPEndPoint(IPAddress.Loopback, 0)),
            TagServer.Listen("exact", new IPEndPoint(IPAddress.Loopback, 0)),
            TagServer.Listen("wildcard", new IPEndPoint(IPAddress.Loopback, 0)),
            TagServer.Listen("prefix", new IPEndPoint(IPAddress.Loopback, 0)),
            TagServer.Listen("passthrough", new IPEndPoint(IPAddress.Parse("127.0.0.9"), 7300)),
        });
        try
        {
            using var proxy = await NetnsProxy.StartAsync(ns, Config(servers));

            Assert.StartsWith("exact ", await TagClient.GreetAsync(ns, Ep("10.99.0.1", 7000)), StringComparison.Ordinal);
            Assert.StartsWith("wildcard ", await TagClient.GreetAsync(ns, Ep("10.99.0.3", 7000)), StringComparison.Ordinal);
            Assert.StartsWith("prefix ", await TagClient.GreetAsync(ns, Ep("10.99.0.5", 7100)), StringComparison.Ordinal);
            Assert.StartsWith("wildcard ", await TagClient.GreetAsync(ns, Ep("10.99.0.6", 7100)), StringComparison.Ordinal);
            Assert.StartsWith("own ", await TagClient.GreetAsync(ns, Ep("10.99.0.3", 7200)), StringComparison.Ordinal);

            // ORIGINAL_DST: to the original 127.0.0.9:7300 itself, from the bound source 127.0.0.6.
            Assert.StartsWith("passthrough 127.0.0.6:", await TagClient.GreetAsync(ns, Ep("127.0.0.9", 7300)), StringComparison.Ordinal);

            // A direct (not redirected) connection to 15001 hits the destination_port 15001 chain: BlackHoleCluster closes it.
            Assert.Equal("", await TagClient.ReadUntilClosedAsync(ns, Ep("127.0.0.1", 15001)));
        }
        finally
        {
            foreach (var server in servers)
            {
                server.Dispose();
            }
        }
    }

    private static IPEndPoint Ep(string address, int port) => new(IPAddress.Parse(address), port);

    private static string Config(TagServer[] servers)
    {
        string Port(int i) => servers[i].EndPoint.Port.ToString(CultureInfo.InvariantCulture);
        return $$"""
            admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
            static_resources:
              listeners:
              - name: virtualOutbound
                address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
                use_original_dst: true
                filter_chains:
                - name: virtualOutbound-blackhole
                  filter_chain_match: { destination_port: 15001 }
                  filters: [ {{Tcp("BlackHoleCluster")}} ]
                - name: virtualOutbound-catchall-tcp
                  filters: [ {{Tcp("own")}} ]
              - name: 10.99.0.1_7000
                address: { socket_address: { address: 10.99.0.1, port_value: 7000 } }
                bind_to_port: false
                filter_chains: [ { filters: [ {{Tcp("exact")}} ] } ]
              - name: 0.0.0.0_7000
                address: { socket_address: { address: 0.0.0.0, port_value: 7000 } }
                bind_to_port: false
                filter_chains: [ { filters: [ {{Tcp("wildcard")}} ] } ]
              - name: 0.0.0.0_7100
                address: { socket_address: { address: 0.0.0.0, port_value: 7100 } }
                bind_to_port: false
                filter_chains:
                - filter_chain_match: { prefix_ranges: [ { address_prefix: 10.99.0.5, prefix_len: 32 } ] }
                  filters: [ {{Tcp("prefix")}} ]
                - filters: [ {{Tcp("wildcard")}} ]
              - name: 0.0.0.0_7300
                address: { socket_address: { address: 0.0.0.0, port_value: 7300 } }
                bind_to_port: false
                filter_chains: [ { filters: [ {{Tcp("PassthroughCluster")}} ] } ]
              clusters:
              - {{Static("own", Port(0))}}
              - {{Static("exact", Port(1))}}
              - {{Static("wildcard", Port(2))}}
              - {{Static("prefix", Port(3))}}
              - { name: BlackHoleCluster, type: STATIC, connect_timeout: 10s }
              - name: PassthroughCluster
                type: ORIGINAL_DST
                lb_policy: CLUSTER_PROVIDED
                connect_timeout: 2s
                upstream_bind_config: { source_address: { address: 127.0.0.6, port_value: 0 } }
            """;
    }

    private static string Tcp(string cluster) =>
        "{ name: envoy.filters.network.tcp_proxy, typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: " + cluster + ", cluster: " + cluster + " } }";

    private static string Static(string name, string port) =>
        "{ name: " + name + ", type: STATIC, connect_timeout: 2s, load_assignment: { cluster_name: " + name
        + ", endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: " + port + " } } } } ] } ] } }";
}
