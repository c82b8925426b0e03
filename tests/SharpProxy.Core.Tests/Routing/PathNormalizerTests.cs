using SharpProxy.Core.Routing;

namespace SharpProxy.Core.Tests.Routing;

public sealed class PathNormalizerTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("/a/b", "/a/b")]
    [InlineData("/a/./b", "/a/b")]
    [InlineData("/a/../b", "/b")]
    [InlineData("/a/b/..", "/a/")]
    [InlineData("/a/b/.", "/a/b/")]
    [InlineData("/../a", "/a")]
    [InlineData("/a/%2e%2e/b", "/b")]
    [InlineData("/a/%2E./b", "/b")]
    [InlineData("/a/.%2e", "/")]
    [InlineData("/a/.hidden/b", "/a/.hidden/b")]
    [InlineData("/a/...", "/a/...")]
    [InlineData("/a//b/../c", "/a//c")]
    [InlineData("/admin/../reviews/1", "/reviews/1")]
    public void RemoveDotSegments_Rfc3986(string path, string expected)
    {
        Assert.Equal(expected, PathNormalizer.RemoveDotSegments(path));
    }

    [Fact]
    public void RemoveDotSegments_NothingToDo_SameInstance()
    {
        const string path = "/reviews/0";

        Assert.Same(path, PathNormalizer.RemoveDotSegments(path));
    }
}
