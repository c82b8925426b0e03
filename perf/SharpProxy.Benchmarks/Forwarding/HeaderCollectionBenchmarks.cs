using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Http1;

namespace SharpProxy.Benchmarks.Forwarding;

/// <summary>
/// The HTTP/1.1 fast path's per-request header work on its collection, ASP.NET's HeaderDictionary against the flat
/// FlatHeaderDictionary: Clear, fill as ParseHead does (a repeated name joins its values), six lookups (the Host for
/// routing, then the names the forwarding rules ask about: connection, x-request-id, x-forwarded-for,
/// x-forwarded-proto, content-length; all but host missing) and one enumeration as WriteRequestHead does. Names are
/// what ParseHead holds: interned literals for the known ones, per-connection lower-cased strings for the others
/// (equal to, but not the same object as, a lookup's literal). 1 header is wrk, 4 h2load, 16 an Istio request; 32 and
/// 64 are beyond FlatHeaderDictionary.IndexThreshold.
/// </summary>
[MemoryDiagnoser]
public class HeaderCollectionBenchmarks
{
    private static readonly string[] AllNames =
    [
        "host", "user-agent", "accept", "accept-encoding", "accept-language", "cookie", "cache-control", "x-b3-traceid",
        "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-envoy-attempt-count", "x-envoy-peer-metadata",
        "x-envoy-peer-metadata-id", "traceparent", "accept", // a repeated line
    ];

    private readonly HeaderDictionary _aspNet = new();
    private readonly FlatHeaderDictionary _flat = new();
    private readonly FlatHeaderDictionary _flatScanOnly = new(indexThreshold: int.MaxValue);
    private readonly FlatHeaderDictionary _flatIndexAlways = new(indexThreshold: 0);
    private string[] _names = null!;
    private string[] _values = null!;

    [Params(1, 4, 16, 32, 64)]
    public int Headers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _names = new string[Headers];
        _values = new string[Headers];
        for (var i = 0; i < Headers; i++)
        {
            var known = i < AllNames.Length ? AllNames[i] : "x-custom-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);

            // As ParseHead: "host" and "accept" are KnownHeaderName's literals, the others fresh strings.
            _names[i] = known is "host" or "accept" ? known : new string(known.AsSpan());
            _values[i] = "value-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (AspNet() != Flat())
        {
            throw new InvalidOperationException("the two collections disagree");
        }
    }

    [Benchmark(Baseline = true)]
    public int AspNet()
    {
        var headers = _aspNet;
        headers.Clear();
        for (var i = 0; i < _names.Length; i++)
        {
            var name = _names[i];
            headers[name] = headers.TryGetValue(name, out var existing) ? StringValues.Concat(existing, _values[i]) : _values[i];
        }

        var found = Lookups(headers);
        foreach (var header in headers)
        {
            found += header.Value.Count;
        }

        return found;
    }

    [Benchmark]
    public int Flat() => Request(_flat);

    [Benchmark]
    public int FlatScanOnly() => Request(_flatScanOnly);

    [Benchmark]
    public int FlatIndexAlways() => Request(_flatIndexAlways);

    private int Request(FlatHeaderDictionary headers)
    {
        headers.Clear();
        for (var i = 0; i < _names.Length; i++)
        {
            headers.Append(_names[i], _values[i]);
        }

        var found = Lookups(headers);
        foreach (var header in headers)
        {
            found += header.Value.Count;
        }

        return found;
    }

    // Through the interface, as RouteRequest and the filters see the collection.
    private static int Lookups(IHeaderDictionary headers)
    {
        var found = 0;
        found += headers.TryGetValue("host", out var host) ? host.Count : 0;
        found += headers.ContainsKey("connection") ? 1 : 0;
        found += headers.ContainsKey("x-request-id") ? 1 : 0;
        found += headers.TryGetValue("x-forwarded-for", out var xff) ? xff.Count : 0;
        found += headers.ContainsKey("x-forwarded-proto") ? 1 : 0;
        found += headers.ContainsKey("content-length") ? 1 : 0;
        return found;
    }
}
