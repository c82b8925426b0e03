using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Benchmarks.Forwarding;

/// <summary>
/// The forward path per request, in process: HttpForwarder.ForwardAsync for a GET from a DefaultHttpContext to a real
/// loopback upstream over the worker's pooled keep-alive connection, response headers and 12-byte body copied back.
/// Routing and Kestrel's own parsing are not included (see the load lab for the whole process). The ForwardContext is
/// built per request as the pipeline does. The upstream allocates nothing per request, so "Allocated" is the proxy's.
/// Goal (issue 3): zero bytes per request on the steady-state HTTP/1.1 path.
/// </summary>
[MemoryDiagnoser]
public class ForwardBenchmarks
{
    private LoopbackUpstream _upstream = null!;
    private ClusterState _cluster = null!;
    private HttpForwarder _forwarder = null!;
    private DefaultHttpContext _fewHeaders = null!;
    private DefaultHttpContext _manyHeaders = null!;

    [GlobalSetup]
    public void Setup()
    {
        _upstream = new LoopbackUpstream(bodyLength: 12);
        _cluster = ForwardingFixture.Cluster(_upstream.Port);
        _forwarder = new HttpForwarder(NullLogger.Instance);
        _fewHeaders = ForwardingFixture.Context(ForwardingFixture.AddFewHeaders, "/");
        _manyHeaders = ForwardingFixture.Context(ForwardingFixture.AddManyHeaders, "/");
        var status = Forward_3Headers().GetAwaiter().GetResult();
        if (status != 200 || _fewHeaders.Response.Headers["Server"] != "bench")
        {
            throw new InvalidOperationException($"forward through the loopback upstream answered {status}, not the upstream's 200");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cluster.Dispose();
        _upstream.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task<int> Forward_3Headers() => ForwardAsync(_fewHeaders);

    [Benchmark]
    public Task<int> Forward_16Headers() => ForwardAsync(_manyHeaders);

    private async Task<int> ForwardAsync(DefaultHttpContext context)
    {
        var response = context.Response;
        response.Headers.Clear();
        response.StatusCode = 200;
        await _forwarder.ForwardAsync(context, ForwardingFixture.Forward(_cluster, "/")).ConfigureAwait(false);
        return response.StatusCode;
    }
}
