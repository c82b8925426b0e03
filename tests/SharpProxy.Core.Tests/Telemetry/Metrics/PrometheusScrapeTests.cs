using SharpProxy.Testing;

namespace SharpProxy.Core.Tests.Telemetry.Metrics;

/// <summary>The test parser must reject what it is there to catch.</summary>
public sealed class PrometheusScrapeTests
{
    [Fact]
    public void Parse_ValidText_WithHelpEscapesAndHistogram()
    {
        var scrape = PrometheusScrape.Parse(
            "# HELP a_total Requests \\\\ done\\n.\n# TYPE a_total counter\na_total{x=\"q\\\"uote\\\\ \\n\",y=\"\"} 3\n"
            + "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 7\nh_count 2\n");

        Assert.Equal("Requests \\ done\n.", scrape.Family("a_total").Help);
        Assert.Equal("q\"uote\\ \n", Assert.Single(scrape.Samples("a_total")).Label("x"));
        Assert.Equal(2, scrape.Sum("h_count"));
    }

    [Theory]
    [InlineData("a 1\n", "outside")]
    [InlineData("# TYPE a counter\na 1", "line feed")]
    [InlineData("# TYPE a counter\na{x=\"\\t\"} 1\n", "escape")]
    [InlineData("# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n", "duplicate label")]
    [InlineData("# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "duplicate series")]
    [InlineData("# TYPE a counter\na 1\n# TYPE b counter\nb 1\n# TYPE a counter\n", "second TYPE")]
    [InlineData("# TYPE a counter\nb 1\n", "outside")]
    [InlineData("# TYPE a counter\na{1x=\"1\"} 1\n", "label name")]
    [InlineData("# TYPE a counter\na one\n", "bad value")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "cumulative")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "_count")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "_sum")]
    public void Parse_InvalidText_Throws(string text, string expectedMessagePart)
    {
        var error = Assert.Throws<FormatException>(() => PrometheusScrape.Parse(text));
        Assert.Contains(expectedMessagePart, error.Message, StringComparison.Ordinal);
    }
}
