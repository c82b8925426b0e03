using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Testing;

public sealed class ConfigWriterTests
{
    [Fact]
    public void Fill_AllPlaceholdersGiven_NoneLeft()
    {
        var text = ConfigWriter.Fill("port_value: {{A_PORT}}\nother: {{B}}", new Dictionary<string, string> { ["A_PORT"] = "1234", ["B"] = "x" });

        Assert.Equal("port_value: 1234\nother: x", text);
    }

    [Fact]
    public void Fill_MissingValue_ThrowsNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => ConfigWriter.Fill("{{A}} {{B}}", new Dictionary<string, string> { ["A"] = "1" }));

        Assert.Contains("B", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fill_UnusedValue_Throws()
    {
        Assert.Throws<ArgumentException>(() => ConfigWriter.Fill("{{A}}", new Dictionary<string, string> { ["A"] = "1", ["C"] = "2" }));
    }

    [Fact]
    public async Task Templates_WrittenForUpstreams_ContainTheirPortsAndNoPlaceholders()
    {
        await using var v1 = await EchoUpstream.StartAsync("v1");
        await using var v2 = await EchoUpstream.StartAsync("v2");
        var closedPort = await TcpProbe.GetClosedPortAsync();
        using var forwarding = ConfigTemplates.WriteForwarding(v1);
        using var canary = ConfigTemplates.WriteCanary(v1, v2);
        using var localReplies = ConfigTemplates.WriteLocalReplies(v1, closedPort, Path.Combine(Path.GetTempPath(), "sharpproxy-unused-access.log"));
        using var unknownCluster = ConfigTemplates.WriteUnknownCluster(v1);

        foreach (var file in new[] { forwarding, canary, localReplies, unknownCluster })
        {
            var text = await File.ReadAllTextAsync(file.Path);
            Assert.DoesNotContain("{{", text, StringComparison.Ordinal);
            Assert.DoesNotContain("\t", text, StringComparison.Ordinal);
            Assert.StartsWith("admin:\n", text, StringComparison.Ordinal);
            Assert.Contains($"port_value: {v1.Http1Port}\n", text, StringComparison.Ordinal);
        }

        Assert.Contains($"port_value: {v1.Http2Port}\n", forwarding.Content, StringComparison.Ordinal);
        Assert.Contains($"port_value: {v2.Http1Port}\n", canary.Content, StringComparison.Ordinal);
        Assert.Contains($"port_value: {closedPort}\n", localReplies.Content, StringComparison.Ordinal);
    }

    [Fact]
    public void Dispose_TempConfig_FileRemoved()
    {
        var file = ConfigWriter.WriteText("admin: {}\n");
        Assert.True(File.Exists(file.Path));

        file.Dispose();

        Assert.False(File.Exists(file.Path));
    }
}
