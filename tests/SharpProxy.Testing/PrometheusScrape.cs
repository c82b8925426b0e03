using System.Globalization;
using System.Text;

namespace SharpProxy.Testing;

/// <summary>One sample line: metric name, labels (in order of appearance), value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"sample {this} has no label '{name}'");

    public override string ToString() =>
        Name + "{" + string.Join(",", Labels.Select(l => l.Key + "=\"" + l.Value + "\"")) + "} " + Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A metric family: its TYPE (and HELP, if given) and its samples.</summary>
public sealed class PrometheusFamily(string name, string type, string? help)
{
    public string Name { get; } = name;

    public string Type { get; } = type;

    public string? Help { get; } = help;

    public List<PrometheusSample> Samples { get; } = [];
}

/// <summary>
/// A strict parser of Prometheus text exposition format 0.0.4, for tests: it rejects what a lenient scraper would
/// let through (bad names, unknown escapes, duplicate labels or series, samples before or outside their TYPE, families
/// split in two, histograms whose buckets are not cumulative, lack +Inf, or disagree with _count, or lack _sum).
/// </summary>
public sealed class PrometheusScrape
{
    private static readonly HashSet<string> Types = new(StringComparer.Ordinal) { "counter", "gauge", "histogram", "summary", "untyped" };

    private readonly Dictionary<string, PrometheusFamily> _families = new(StringComparer.Ordinal);

    private PrometheusScrape()
    {
    }

    public IReadOnlyDictionary<string, PrometheusFamily> Families => _families;

    public static PrometheusScrape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 0 && text[^1] != '\n')
        {
            throw new FormatException("the exposition must end with a line feed");
        }

        var scrape = new PrometheusScrape();
        var seriesSeen = new HashSet<string>(StringComparer.Ordinal);
        var helps = new Dictionary<string, string>(StringComparer.Ordinal);
        PrometheusFamily? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            var where = $"line {i + 1} '{line}'";
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    if (parts.Length != 4 || !Types.Contains(parts[3]))
                    {
                        throw new FormatException($"{where}: TYPE needs a name and one of {string.Join('|', Types)}");
                    }

                    CheckMetricName(parts[2], where);
                    if (scrape._families.ContainsKey(parts[2]))
                    {
                        throw new FormatException($"{where}: second TYPE for '{parts[2]}' (families must be contiguous)");
                    }

                    current = new PrometheusFamily(parts[2], parts[3], helps.GetValueOrDefault(parts[2]));
                    scrape._families.Add(current.Name, current);
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    CheckMetricName(parts[2], where);
                    if (scrape._families.ContainsKey(parts[2]) && current?.Name != parts[2])
                    {
                        throw new FormatException($"{where}: HELP for '{parts[2]}' after its family ended");
                    }

                    if (!helps.TryAdd(parts[2], parts.Length == 4 ? UnescapeHelp(parts[3], where) : ""))
                    {
                        throw new FormatException($"{where}: second HELP for '{parts[2]}'");
                    }
                }

                continue;
            }

            var sample = ParseSample(line, where);
            if (current is null || !BelongsTo(sample.Name, current))
            {
                throw new FormatException($"{where}: sample outside the family of its TYPE line (current family: {current?.Name ?? "none"})");
            }

            var identity = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
            if (!seriesSeen.Add(identity))
            {
                throw new FormatException($"{where}: duplicate series {identity}");
            }

            current.Samples.Add(sample);
        }

        foreach (var family in scrape._families.Values)
        {
            if (family.Type == "histogram")
            {
                CheckHistogram(family);
            }
        }

        return scrape;
    }

    public PrometheusFamily Family(string name) =>
        _families.TryGetValue(name, out var family) ? family : throw new KeyNotFoundException($"no family '{name}'; families: {string.Join(", ", _families.Keys)}");

    /// <summary>Samples of a family (or of its _bucket/_sum/_count lines) whose labels include all of <paramref name="match"/>.</summary>
    public IReadOnlyList<PrometheusSample> Samples(string sampleName, params (string Name, string Value)[] match)
    {
        var result = new List<PrometheusSample>();
        foreach (var family in _families.Values)
        {
            foreach (var sample in family.Samples)
            {
                if (sample.Name == sampleName && match.All(m => sample.Labels.TryGetValue(m.Name, out var v) && v == m.Value))
                {
                    result.Add(sample);
                }
            }
        }

        return result;
    }

    /// <summary>Sum of the values of <see cref="Samples"/>.</summary>
    public double Sum(string sampleName, params (string Name, string Value)[] match) => Samples(sampleName, match).Sum(s => s.Value);

    private static bool BelongsTo(string sampleName, PrometheusFamily family)
    {
        if (sampleName == family.Name)
        {
            return family.Type is not "histogram";
        }

        return family.Type switch
        {
            "histogram" => sampleName == family.Name + "_bucket" || sampleName == family.Name + "_sum" || sampleName == family.Name + "_count",
            "summary" => sampleName == family.Name + "_sum" || sampleName == family.Name + "_count",
            _ => false,
        };
    }

    private static void CheckHistogram(PrometheusFamily family)
    {
        var groups = new Dictionary<string, (List<(double Le, double Count)> Buckets, double? Sum, double? Count)>(StringComparer.Ordinal);
        foreach (var sample in family.Samples)
        {
            var key = string.Join(",", sample.Labels.Where(l => l.Key != "le").Select(l => l.Key + "=" + l.Value));
            if (!groups.TryGetValue(key, out var group))
            {
                group = ([], null, null);
            }

            if (sample.Name.EndsWith("_bucket", StringComparison.Ordinal))
            {
                if (!sample.Labels.TryGetValue("le", out var le))
                {
                    throw new FormatException($"{family.Name}: bucket without le: {sample}");
                }

                group.Buckets.Add((ParseValue(le, $"{family.Name} le"), sample.Value));
            }
            else if (sample.Name.EndsWith("_sum", StringComparison.Ordinal))
            {
                group.Sum = sample.Value;
            }
            else
            {
                group.Count = sample.Value;
            }

            groups[key] = group;
        }

        foreach (var (key, group) in groups)
        {
            var where = $"{family.Name}{{{key}}}";
            if (group.Sum is null || group.Count is null)
            {
                throw new FormatException($"{where}: histogram without _sum or _count");
            }

            if (group.Buckets.Count == 0 || !double.IsPositiveInfinity(group.Buckets[^1].Le))
            {
                throw new FormatException($"{where}: the last bucket must be le=\"+Inf\"");
            }

            for (var i = 1; i < group.Buckets.Count; i++)
            {
                if (!(group.Buckets[i].Le > group.Buckets[i - 1].Le))
                {
                    throw new FormatException($"{where}: bucket bounds not increasing at {group.Buckets[i].Le}");
                }

                if (group.Buckets[i].Count < group.Buckets[i - 1].Count)
                {
                    throw new FormatException($"{where}: bucket counts not cumulative at le={group.Buckets[i].Le}");
                }
            }

            if (group.Buckets[^1].Count != group.Count)
            {
                throw new FormatException($"{where}: le=\"+Inf\" ({group.Buckets[^1].Count}) != _count ({group.Count})");
            }
        }
    }

    private static PrometheusSample ParseSample(string line, string where)
    {
        var position = 0;
        while (position < line.Length && line[position] != '{' && line[position] != ' ')
        {
            position++;
        }

        var name = line[..position];
        CheckMetricName(name, where);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (position < line.Length && line[position] == '{')
        {
            position++;
            while (true)
            {
                if (position >= line.Length)
                {
                    throw new FormatException($"{where}: unterminated label set");
                }

                if (line[position] == '}')
                {
                    position++;
                    break;
                }

                var nameStart = position;
                while (position < line.Length && line[position] != '=')
                {
                    position++;
                }

                var labelName = line[nameStart..position];
                if (!IsLabelName(labelName))
                {
                    throw new FormatException($"{where}: bad label name '{labelName}'");
                }

                if (position + 1 >= line.Length || line[position + 1] != '"')
                {
                    throw new FormatException($"{where}: label '{labelName}' value must be quoted");
                }

                position += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (position >= line.Length)
                    {
                        throw new FormatException($"{where}: unterminated value of label '{labelName}'");
                    }

                    var c = line[position++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        if (position >= line.Length)
                        {
                            throw new FormatException($"{where}: dangling backslash");
                        }

                        var escaped = line[position++];
                        value.Append(escaped switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException($"{where}: unknown escape '\\{escaped}'"),
                        });
                        continue;
                    }

                    value.Append(c);
                }

                if (!labels.TryAdd(labelName, value.ToString()))
                {
                    throw new FormatException($"{where}: duplicate label '{labelName}'");
                }

                if (position < line.Length && line[position] == ',')
                {
                    position++;
                }
                else if (position >= line.Length || line[position] != '}')
                {
                    throw new FormatException($"{where}: expected ',' or '}}' after label '{labelName}'");
                }
            }
        }

        if (position >= line.Length || line[position] != ' ')
        {
            throw new FormatException($"{where}: expected one space before the value");
        }

        var rest = line[(position + 1)..].Split(' ');
        if (rest.Length is < 1 or > 2 || rest[0].Length == 0)
        {
            throw new FormatException($"{where}: expected 'value [timestamp]'");
        }

        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
        {
            throw new FormatException($"{where}: bad timestamp '{rest[1]}'");
        }

        return new PrometheusSample(name, labels, ParseValue(rest[0], where));
    }

    private static double ParseValue(string text, string where) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) => value,
        _ => throw new FormatException($"{where}: bad value '{text}'"),
    };

    private static string UnescapeHelp(string text, string where)
    {
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            if (++i >= text.Length)
            {
                throw new FormatException($"{where}: dangling backslash in HELP");
            }

            result.Append(text[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                _ => throw new FormatException($"{where}: unknown escape in HELP '\\{text[i]}'"),
            });
        }

        return result.ToString();
    }

    private static void CheckMetricName(string name, string where)
    {
        if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':'))
        {
            throw new FormatException($"{where}: bad metric name '{name}'");
        }
    }

    private static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
