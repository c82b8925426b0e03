using System.Diagnostics;
using System.Globalization;
using System.Net;
using SharpProxy.Testing;

// xDS at scale, measured on the real proxy process: memory holding N EDS clusters with M endpoints each (fed by the
// test control plane), and the time from an RDS push to the new split being served, over several pushes.
// Usage: dotnet run -c Release --project perf/SharpProxy.XdsScale -- [clusters=1000] [endpoints=10] [pushes=9]
var clusters = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
var endpoints = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
var pushes = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 9;

await using var v1 = await EchoUpstream.StartAsync("v1");
await using var v2 = await EchoUpstream.StartAsync("v2");
await using var xds = await XdsTestServer.StartAsync();

// Endpoints of the bulk clusters are loopback addresses nobody connects to (127.1.x.y: never dialled, only held).
var clusterResources = new List<Google.Protobuf.IMessage> { XdsResources.EdsCluster("v1"), XdsResources.EdsCluster("v2") };
var assignments = new List<Google.Protobuf.IMessage> { XdsResources.Assignment("v1", v1.Http1Port), XdsResources.Assignment("v2", v2.Http1Port) };
for (var c = 0; c < clusters; c++)
{
    var name = $"outbound|9080|v{c % 3}|svc-{c}.default.svc.cluster.local";
    clusterResources.Add(XdsResources.EdsCluster(name, SharpProxy.Xds.Api.Config.Cluster.V3.Cluster.Types.LbPolicy.LeastRequest));
    var assignment = XdsResources.Assignment(name);
    var locality = new SharpProxy.Xds.Api.Config.Endpoint.V3.LocalityLbEndpoints();
    for (var e = 0; e < endpoints; e++)
    {
        locality.LbEndpoints.Add(new SharpProxy.Xds.Api.Config.Endpoint.V3.LbEndpoint
        {
            Endpoint = new SharpProxy.Xds.Api.Config.Endpoint.V3.Endpoint
            {
                Address = new SharpProxy.Xds.Api.Config.Core.V3.Address
                {
                    SocketAddress = new SharpProxy.Xds.Api.Config.Core.V3.SocketAddress { Address = $"127.1.{c / 250}.{(c % 250) + 1}", PortValue = (uint)(9000 + e) },
                },
            },
        });
    }

    assignment.Endpoints.Clear();
    assignment.Endpoints.Add(locality);
    assignments.Add(assignment);
}

xds.Set(XdsTestServer.ClusterType, "1", [.. clusterResources]);
xds.Set(XdsTestServer.EndpointType, "1", [.. assignments]);
xds.Set(XdsTestServer.ListenerType, "1", XdsResources.RdsListener("scale", "route"));
xds.Set(XdsTestServer.RouteType, "1", XdsResources.WeightedRoute("route", ("v1", 100), ("v2", 0)));

var bootstrap = ConfigWriter.WriteText($$"""
    node: { id: "sidecar~127.0.0.1~scale.default~default.svc.cluster.local", cluster: scale }
    admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
    dynamic_resources:
      ads_config: { api_type: DELTA_GRPC, transport_api_version: V3, grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ] }
      cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 60s }
      lds_config: { ads: {}, resource_api_version: V3 }
    static_resources:
      clusters:
      - name: xds-grpc
        type: STATIC
        load_assignment: { cluster_name: xds-grpc, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{xds.Port}} } } } } ] } ] }
    """);

var startWatch = Stopwatch.StartNew();
await using var proxy = await ProxyProcess.StartAsync(bootstrap.Path, ["--concurrency", "2"], TimeSpan.FromSeconds(120));
var startMs = startWatch.Elapsed.TotalMilliseconds;
using var client = TestHttp.Http1(await proxy.GetListenerUriAsync("scale"));
using (var warm = await client.GetAsync("/"))
{
    if (warm.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException("warm-up request failed: " + warm.StatusCode + "\n" + proxy.Describe());
    }
}

await Task.Delay(2000);
var (_, statsText) = await proxy.AdminGetAsync("/stats");
double StatMb(string name)
{
    foreach (var line in statsText.Split('\n'))
    {
        if (line.StartsWith(name + ": ", StringComparison.Ordinal))
        {
            return long.Parse(line[(name.Length + 2)..], CultureInfo.InvariantCulture) / 1048576.0;
        }
    }

    return double.NaN;
}

var allocatedMb = StatMb("server.memory_allocated");
var heapMb = StatMb("server.memory_heap_size");
var rssMb = proxy.CurrentRssBytes / 1048576.0;
var peakMb = proxy.PeakRssBytes / 1048576.0;

var times = new List<double>();
for (var p = 0; p < pushes; p++)
{
    var target = p % 2 == 0 ? "v2" : "v1";
    var watch = Stopwatch.StartNew();
    xds.Set(XdsTestServer.RouteType, (p + 2).ToString(CultureInfo.InvariantCulture),
        XdsResources.WeightedRoute("route", ("v1", target == "v1" ? 100u : 0u), ("v2", target == "v2" ? 100u : 0u)));
    while (true)
    {
        using var response = await client.GetAsync("/");
        if (response.Headers.TryGetValues(EchoUpstream.LabelHeader, out var labels) && labels.First() == target)
        {
            break;
        }

        if (watch.Elapsed > TimeSpan.FromSeconds(30))
        {
            throw new TimeoutException("push " + p + " not served after 30 s\n" + proxy.Describe());
        }
    }

    times.Add(watch.Elapsed.TotalMilliseconds);
}

times.Sort();
Console.WriteLine($"clusters {clusters + 2} x {endpoints} endpoints (delta ADS, 2 workers)");
Console.WriteLine($"start to ready (initial fetch applied): {startMs:F0} ms");
Console.WriteLine($"RSS after load: {rssMb:F1} MiB, peak {peakMb:F1} MiB; GC heap {heapMb:F1} MiB, of which live/allocated {allocatedMb:F1} MiB");
Console.WriteLine($"RDS push to new split served, {pushes} pushes: median {times[times.Count / 2]:F1} ms, min {times[0]:F1}, max {times[^1]:F1}");
