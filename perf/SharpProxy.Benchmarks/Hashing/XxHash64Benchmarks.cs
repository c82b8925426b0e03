using BenchmarkDotNet.Attributes;
using SharpProxy.Core.Hashing;

namespace SharpProxy.Benchmarks.Hashing;

/// <summary>Cost of hashing one typical 32-byte request key (a cookie or header value).</summary>
[MemoryDiagnoser]
public class XxHash64Benchmarks
{
    private readonly byte[] _key32 = "0123456789abcdef0123456789abcdef"u8.ToArray();
    private readonly string _text32 = "0123456789abcdef0123456789abcdef";

    [Benchmark(Baseline = true)]
    public ulong XxHash64_32Bytes() => XxHash64.Hash(_key32);

    [Benchmark]
    public ulong XxHash64_Utf8_32Chars() => XxHash64.HashUtf8(_text32);

    [Benchmark]
    public ulong MurmurHash2_32Bytes() => MurmurHash2.Hash(_key32);
}
