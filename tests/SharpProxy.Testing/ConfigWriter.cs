using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpProxy.Testing;

/// <summary>A config file in a temporary directory, deleted on dispose.</summary>
public sealed class TempConfigFile : IDisposable
{
    internal TempConfigFile(string path, string content)
    {
        Path = path;
        Content = content;
    }

    public string Path { get; }

    /// <summary>The text written (for assertion messages).</summary>
    public string Content { get; }

    public void Dispose()
    {
        try
        {
            File.Delete(Path);
            var directory = System.IO.Path.GetDirectoryName(Path);
            if (directory is not null && Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
            {
                Directory.Delete(directory);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public override string ToString() => Path;
}

/// <summary>
/// Fills <c>{{NAME}}</c> placeholders of a config template and writes it to a temporary file.
/// Every placeholder must be given a value and every value must be used, so a template and its caller cannot drift apart.
/// </summary>
public static partial class ConfigWriter
{
    public static string Fill(string template, IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var result = Placeholder().Replace(template, match =>
        {
            var name = match.Groups[1].Value;
            if (values.TryGetValue(name, out var value))
            {
                used.Add(name);
                return value;
            }

            missing.Add(name);
            return match.Value;
        });

        if (missing.Count > 0)
        {
            throw new ArgumentException($"No value for placeholder(s): {string.Join(", ", missing)}.", nameof(values));
        }

        var unused = values.Keys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
        {
            throw new ArgumentException($"Value(s) given for placeholder(s) not in the template: {string.Join(", ", unused)}.", nameof(values));
        }

        return result;
    }

    public static TempConfigFile Write(string template, IReadOnlyDictionary<string, string> values, string extension = ".yaml") =>
        WriteText(Fill(template, values), extension);

    public static TempConfigFile Write(string template, params (string Name, object Value)[] values) =>
        Write(template, values.ToDictionary(v => v.Name, v => Convert.ToString(v.Value, CultureInfo.InvariantCulture) ?? string.Empty, StringComparer.Ordinal));

    /// <summary>Writes text as-is (no placeholders) to a new temporary file.</summary>
    public static TempConfigFile WriteText(string content, string extension = ".yaml")
    {
        ArgumentNullException.ThrowIfNull(content);
        var directory = Directory.CreateTempSubdirectory("sharpproxy-config-").FullName;
        var path = Path.Combine(directory, "config" + extension);
        File.WriteAllText(path, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        return new TempConfigFile(path, content);
    }

    [GeneratedRegex(@"\{\{([A-Z0-9_]+)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
