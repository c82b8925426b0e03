using System.Collections.Immutable;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Hashing;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Tests.LoadBalancing;

public sealed class HashPolicyEvaluatorTests
{
    private static readonly IPEndPoint Remote = new(IPAddress.Parse("10.0.0.1"), 12345);
    private static readonly IPEndPoint Local = new(IPAddress.Parse("10.0.0.2"), 443);

    [Fact]
    public void Header_SingleValue_IsXxh64()
    {
        var hash = Compute([Header("x-user")], Headers(("x-user", "foo")));
        Assert.Equal(3728699739546630719UL, hash);
    }

    [Fact]
    public void Header_Missing_NoHash()
    {
        Assert.Null(Compute([Header("x-user")], Headers()));
    }

    [Fact]
    public void TwoIdenticalPolicies_RotateInsteadOfCancel()
    {
        var hash = Compute([Header("x-user"), Header("x-user")], Headers(("x-user", "foo")));
        Assert.Equal(6107164738285588033UL, hash);
    }

    [Fact]
    public void Header_MultipleValues_SortedThenChained()
    {
        var headers = new HeaderDictionary { ["x-user"] = new StringValues(["foo", "bar"]) };
        var hash = Compute([Header("x-user")], headers);
        Assert.Equal(XxHash64.HashList(["bar", "foo"]), hash);
        Assert.Equal(17745830980996999794UL, XxHash64.HashList(["foo", "bar"]));
    }

    [Fact]
    public void Terminal_StopsOnceAnyHashExists()
    {
        var headers = Headers(("a", "foo"), ("b", "bar"));
        Assert.Equal(3728699739546630719UL, Compute([Header("a") with { Terminal = true }, Header("b")], headers));

        // A missing terminal policy does not stop; an earlier hash makes a later terminal stop after combining.
        Assert.Equal(5234164152756840025UL, Compute([Header("missing") with { Terminal = true }, Header("b")], headers));
        var combined = Compute([Header("a"), Header("b") with { Terminal = true }, Header("a")], headers);
        Assert.Equal(RotL(3728699739546630719UL) ^ 5234164152756840025UL, combined);
    }

    [Fact]
    public void SkippedPolicies_DoNotRotate()
    {
        var hash = Compute([Header("missing"), Header("b")], Headers(("b", "bar")));
        Assert.Equal(5234164152756840025UL, hash);
    }

    [Fact]
    public void Cookie_Present_QuotesStripped()
    {
        var policy = Cookie("session");
        Assert.Equal(XxHash64.HashUtf8("lyft"), Compute([policy], Headers(("cookie", "a=b; session=\"lyft\"; c=d"))));
        Assert.Equal(4400747396090729504UL, Compute([policy], Headers(("cookie", "session=lyft"))));
        Assert.Null(Compute([policy], Headers(("cookie", "Session=lyft"))));
    }

    [Fact]
    public void Cookie_MissingWithTtl_GeneratedAsEnvoy()
    {
        var policy = Cookie("session") with
        {
            CookieTtl = TimeSpan.FromSeconds(3600),
            CookiePath = "/p",
            CookieAttributes = [new("SameSite", "Strict"), new("Secure", "")],
        };

        var hash = HashPolicyEvaluator.Compute([policy], Headers(), null, Remote, Local, out var setCookie);

        var expectedValue = XxHash64.ToHex(XxHash64.HashUtf8("10.0.0.1:1234510.0.0.2:443"));
        Assert.Equal(16, expectedValue.Length);
        Assert.Equal(XxHash64.HashUtf8(expectedValue), hash);
        Assert.Equal($"session=\"{expectedValue}\"; Max-Age=3600; Path=/p; SameSite=Strict; Secure; HttpOnly", setCookie);

        // The follow-up carrying the cookie hashes to the same value and sets nothing.
        var again = HashPolicyEvaluator.Compute([policy], Headers(("cookie", setCookie!.Split(';')[0])), null, Remote, Local, out var none);
        Assert.Equal(hash, again);
        Assert.Null(none);
    }

    [Fact]
    public void Cookie_ZeroTtl_SessionCookie_NoTtlNoHash()
    {
        HashPolicyEvaluator.Compute([Cookie("s") with { CookieTtl = TimeSpan.Zero }], Headers(), null, Remote, Local, out var setCookie);
        Assert.Equal($"s=\"{HashPolicyEvaluator.GenerateCookieValue(Remote, Local)}\"; HttpOnly", setCookie);

        Assert.Null(HashPolicyEvaluator.Compute([Cookie("s")], Headers(), null, Remote, Local, out var none));
        Assert.Null(none);
    }

    [Fact]
    public void SourceIp_HashesIpWithoutPort()
    {
        var hash = HashPolicyEvaluator.Compute([new HashPolicyConfig { Kind = HashPolicyKind.SourceIp }], Headers(), null, Remote, Local, out _);
        Assert.Equal(XxHash64.HashUtf8("10.0.0.1"), hash);
        var v6 = HashPolicyEvaluator.Compute([new HashPolicyConfig { Kind = HashPolicyKind.SourceIp }], Headers(), null, new IPEndPoint(IPAddress.Parse("1:2:3:4:5::"), 80), Local, out _);
        Assert.Equal(XxHash64.HashUtf8("1:2:3:4:5::"), v6);
    }

    [Theory]
    [InlineData("?a=1&user=foo&user=bar", "foo")]
    [InlineData("?user", "")]
    [InlineData("?user=", "")]
    [InlineData("?user=a%20b", "a%20b")]
    public void QueryParameter_FirstMatchNoDecoding(string query, string expected)
    {
        var hash = HashPolicyEvaluator.Compute([new HashPolicyConfig { Kind = HashPolicyKind.QueryParameter, Name = "user" }], Headers(), query, Remote, Local, out _);
        Assert.Equal(XxHash64.HashUtf8(expected), hash);
    }

    [Fact]
    public void QueryParameter_AbsentOrCaseDifferent_NoHash()
    {
        var policy = new HashPolicyConfig { Kind = HashPolicyKind.QueryParameter, Name = "user" };
        Assert.Null(HashPolicyEvaluator.Compute([policy], Headers(), "?User=1", Remote, Local, out _));
        Assert.Null(HashPolicyEvaluator.Compute([policy], Headers(), "", Remote, Local, out _));
    }

    [Fact]
    public void Compute_SingleValuedPolicies_DoNotAllocate()
    {
        ImmutableArray<HashPolicyConfig> policies =
        [
            Header("x-user"),
            Cookie("sid"),
            new HashPolicyConfig { Kind = HashPolicyKind.SourceIp },
            new HashPolicyConfig { Kind = HashPolicyKind.QueryParameter, Name = "user" },
        ];
        var headers = Headers(("x-user", "alice"), ("cookie", "a=b; sid=\"0123456789abcdef\""));
        const string query = "?x=1&user=bob";
        HashPolicyEvaluator.Compute(policies, headers, query, Remote, Local, out _); // warm up

        var before = GC.GetAllocatedBytesForCurrentThread();
        ulong sum = 0;
        for (var i = 0; i < 100; i++)
        {
            sum += HashPolicyEvaluator.Compute(policies, headers, query, Remote, Local, out _)!.Value;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0UL, sum);
    }

    private static ulong RotL(ulong v) => (v << 1) | (v >> 63);

    private static ulong? Compute(ImmutableArray<HashPolicyConfig> policies, IHeaderDictionary headers) =>
        HashPolicyEvaluator.Compute(policies, headers, null, Remote, Local, out _);

    private static HashPolicyConfig Header(string name) => new() { Kind = HashPolicyKind.Header, Name = name };

    private static HashPolicyConfig Cookie(string name) => new() { Kind = HashPolicyKind.Cookie, Name = name };

    private static HeaderDictionary Headers(params (string Name, string Value)[] headers)
    {
        var result = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            result.Append(name, value);
        }

        return result;
    }
}
