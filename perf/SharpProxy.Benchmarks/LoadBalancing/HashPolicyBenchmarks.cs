using System.Collections.Immutable;
using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Benchmarks.LoadBalancing;

/// <summary>Route hash_policy evaluation per request: header, cookie, source IP, query parameter, and all four chained.</summary>
[MemoryDiagnoser]
public class HashPolicyBenchmarks
{
    private readonly IHeaderDictionary _headers = new HeaderDictionary
    {
        ["x-user"] = "user-1234567",
        ["cookie"] = "theme=dark; session=0123456789abcdef; lang=en",
    };

    private readonly IPEndPoint _remote = new(IPAddress.Parse("10.1.2.3"), 53211);
    private readonly IPEndPoint _local = new(IPAddress.Parse("10.1.2.4"), 8080);
    private const string Query = "a=1&user=alice&b=2";

    private ImmutableArray<HashPolicyConfig> _header;
    private ImmutableArray<HashPolicyConfig> _cookie;
    private ImmutableArray<HashPolicyConfig> _sourceIp;
    private ImmutableArray<HashPolicyConfig> _query;
    private ImmutableArray<HashPolicyConfig> _all;

    [GlobalSetup]
    public void Setup()
    {
        var header = new HashPolicyConfig { Kind = HashPolicyKind.Header, Name = "x-user" };
        var cookie = new HashPolicyConfig { Kind = HashPolicyKind.Cookie, Name = "session" };
        var sourceIp = new HashPolicyConfig { Kind = HashPolicyKind.SourceIp };
        var query = new HashPolicyConfig { Kind = HashPolicyKind.QueryParameter, Name = "user" };
        _header = [header];
        _cookie = [cookie];
        _sourceIp = [sourceIp];
        _query = [query];
        _all = [header, cookie, sourceIp, query];
    }

    [Benchmark]
    public ulong? Header() => HashPolicyEvaluator.Compute(_header, _headers, Query, _remote, _local, out _);

    [Benchmark]
    public ulong? Cookie() => HashPolicyEvaluator.Compute(_cookie, _headers, Query, _remote, _local, out _);

    [Benchmark]
    public ulong? SourceIp() => HashPolicyEvaluator.Compute(_sourceIp, _headers, Query, _remote, _local, out _);

    [Benchmark]
    public ulong? QueryParameter() => HashPolicyEvaluator.Compute(_query, _headers, Query, _remote, _local, out _);

    [Benchmark]
    public ulong? AllFourChained() => HashPolicyEvaluator.Compute(_all, _headers, Query, _remote, _local, out _);
}
