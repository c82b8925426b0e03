using System.Text;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.Upstream;

public sealed class HeaderRulesTests
{
    [Theory]
    [InlineData("connection", true)]
    [InlineData("Keep-Alive", true)]
    [InlineData("PROXY-CONNECTION", true)]
    [InlineData("transfer-encoding", true)]
    [InlineData("upgrade", true)]
    [InlineData("te", true)]
    [InlineData("http2-settings", true)]
    [InlineData("content-length", false)]
    [InlineData("trailer", false)]
    [InlineData("tf", false)]
    [InlineData("x-connection", false)]
    [InlineData("", false)]
    public void IsHopByHop_BytesAndString_SameAnswer(string name, bool expected)
    {
        Assert.Equal(expected, HeaderRules.IsHopByHop(name));
        Assert.Equal(expected, HeaderRules.IsHopByHop(Encoding.ASCII.GetBytes(name)));
    }
}
