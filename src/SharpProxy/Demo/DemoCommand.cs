using System.Net.Sockets;
using SharpProxy.Cli;
using SharpProxy.Core.Configuration;
using SharpProxy.Hosting;

namespace SharpProxy.Demo;

/// <summary>
/// `sharpproxy demo`: two echo upstreams (v1 on 18081, v2 on 18082), the proxy on the embedded canary config
/// (listener 10000: header `canary: canary-tester` pinned to v2, otherwise v1 90 / v2 10), a bounded burst of
/// requests with a table of where they went, then the proxy keeps serving until Ctrl+C.
/// </summary>
internal static class DemoCommand
{
    public const int Requests = 1000;
    public const int PinnedRequests = 100;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = ProxyOptionsParser.Parse(args, out var error);
        if (options is null)
        {
            await Console.Error.WriteLineAsync("error: " + error).ConfigureAwait(false);
            return 2;
        }

        var bootstrap = options.ConfigPath is null
            ? EmbeddedConfig.Load(EmbeddedConfig.CanaryDemo, allowUnknownFields: false)
            : Xds.Bootstrap.BootstrapLoader.Load(options.ConfigPath, options.ConfigYaml, options.AllowUnknownStaticFields);
        await using var v1 = new DemoUpstream("v1", 18081);
        await using var v2 = new DemoUpstream("v2", 18082);
        try
        {
            await v1.StartAsync().ConfigureAwait(false);
            await v2.StartAsync().ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is SocketException || ex is IOException)
        {
            await Console.Error.WriteLineAsync($"error: cannot start the demo upstreams on 127.0.0.1:18081/18082: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        Console.WriteLine("demo upstreams: v1 on 127.0.0.1:18081, v2 on 127.0.0.1:18082");
        var listener = bootstrap.Config.Listeners.Length > 0 ? bootstrap.Config.Listeners[0] : null;
        var proxyPort = listener?.Port ?? 10000;
        return await ProxyServer.RunAsync(options, bootstrap, onReady: admin => _ = SendBurstAsync(proxyPort, admin)).ConfigureAwait(false);
    }

    private static async Task SendBurstAsync(int port, string admin)
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        var plain = await CountAsync(client, Requests, pinned: false).ConfigureAwait(false);
        var pinned = await CountAsync(client, PinnedRequests, pinned: true).ConfigureAwait(false);
        Console.WriteLine();
        Console.WriteLine("requests                               v1      v2   other");
        Console.WriteLine($"{Requests} without header (90/10)      {plain.V1,6}  {plain.V2,6}  {plain.Other,6}");
        Console.WriteLine($"{PinnedRequests} with canary: canary-tester      {pinned.V1,6}  {pinned.V2,6}  {pinned.Other,6}");
        Console.WriteLine();
        Console.WriteLine($"The proxy keeps serving on 127.0.0.1:{port} (admin http://{admin}). Try:");
        Console.WriteLine($"  curl -s http://127.0.0.1:{port}/hello");
        Console.WriteLine($"  curl -s -H 'canary: canary-tester' http://127.0.0.1:{port}/hello");
        Console.WriteLine($"  curl -s --http2-prior-knowledge http://127.0.0.1:{port}/hello");
        Console.WriteLine($"  curl -s http://{admin}/clusters");
        Console.WriteLine("Ctrl+C stops it.");
    }

    private static async Task<(int V1, int V2, int Other)> CountAsync(HttpClient client, int count, bool pinned)
    {
        int v1 = 0, v2 = 0, other = 0;
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/demo/" + i);
            if (pinned)
            {
                request.Headers.Add("canary", "canary-tester");
            }

            try
            {
                using var response = await client.SendAsync(request).ConfigureAwait(false);
                var upstream = response.Headers.TryGetValues("x-upstream", out var values) ? string.Join(",", values) : "";
                switch (upstream)
                {
                    case "v1": v1++; break;
                    case "v2": v2++; break;
                    default: other++; break;
                }
            }
            catch (HttpRequestException)
            {
                other++;
            }
        }

        return (v1, v2, other);
    }
}
