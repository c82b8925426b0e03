using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Benchmarks.Forwarding;

/// <summary>
/// Header copy in both directions, through HttpForwarder's own private helpers (bound by reflection once, then called
/// as plain delegates): CreateRequest turns the downstream request into the upstream HttpRequestMessage (target Uri,
/// headers minus hop-by-hop, Host, x-forwarded-proto), CopyResponseHeaders copies the upstream response headers back
/// and applies the route's response header mutations. No socket I/O.
/// </summary>
[MemoryDiagnoser]
public class HeaderCopyBenchmarks
{
    private ForwardingFixture.CreateRequestCall _createRequest = null!;
    private ForwardingFixture.CopyResponseHeadersCall _copyResponseHeaders = null!;
    private ClusterState _cluster = null!;
    private ForwardContext _forward = null!;
    private DefaultHttpContext _fewHeaders = null!;
    private DefaultHttpContext _manyHeaders = null!;
    private HttpResponseMessage _response = null!;

    [GlobalSetup]
    public void Setup()
    {
        _createRequest = ForwardingFixture.Bind<ForwardingFixture.CreateRequestCall>("CreateRequest");
        _copyResponseHeaders = ForwardingFixture.Bind<ForwardingFixture.CopyResponseHeadersCall>("CopyResponseHeaders");
        _cluster = ForwardingFixture.Cluster(port: 9080);
        _forward = ForwardingFixture.Forward(_cluster, "/productpage");
        _fewHeaders = ForwardingFixture.Context(ForwardingFixture.AddFewHeaders, "/productpage");
        _manyHeaders = ForwardingFixture.Context(ForwardingFixture.AddManyHeaders, "/productpage");
        _response = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        _response.Headers.TryAddWithoutValidation("Server", "nginx/1.22.1");
        _response.Headers.TryAddWithoutValidation("Date", "Mon, 30 Nov 2026 06:00:00 GMT");
        _response.Headers.TryAddWithoutValidation("Connection", "keep-alive");
        _response.Headers.TryAddWithoutValidation("Cache-Control", "no-store");
        _response.Content.Headers.TryAddWithoutValidation("Content-Type", "text/plain");
        _response.Content.Headers.TryAddWithoutValidation("Content-Length", "12");

        using var request = _createRequest(_manyHeaders, _forward, _forward.Host, false, null);
        if (request.Headers.Host != _forward.Authority || !request.Headers.Contains("x-b3-traceid") || request.RequestUri!.AbsolutePath != "/productpage")
        {
            throw new InvalidOperationException("CreateRequest did not produce the expected upstream request");
        }

        CopyResponseHeaders();
        if (_fewHeaders.Response.Headers.ContentLength != 12 || _fewHeaders.Response.Headers.ContainsKey("Connection"))
        {
            throw new InvalidOperationException("CopyResponseHeaders did not produce the expected downstream headers");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _response.Dispose();
        _cluster.Dispose();
    }

    [Benchmark(Baseline = true)]
    public HttpRequestMessage CreateRequest_3Headers()
    {
        var request = _createRequest(_fewHeaders, _forward, _forward.Host, false, null);
        request.Dispose();
        return request;
    }

    [Benchmark]
    public HttpRequestMessage CreateRequest_16Headers()
    {
        var request = _createRequest(_manyHeaders, _forward, _forward.Host, false, null);
        request.Dispose();
        return request;
    }

    [Benchmark]
    public int CopyResponseHeaders()
    {
        var headers = _fewHeaders.Response.Headers;
        headers.Clear();
        _copyResponseHeaders(_fewHeaders, _forward, _response);
        return headers.Count;
    }
}
