using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>Lookups inside one pod spec shared by the tests.</summary>
internal static class PodChecks
{
    public const string ProxyUid = "1337";
    public const int ReadinessPort = 15021;
    public const int PrometheusPort = 15090;

    /// <summary>(pod id, container name) of every SharpProxy proxy container the manifests create.</summary>
    public static TheoryData<string, string> ProxyContainers()
    {
        var data = new TheoryData<string, string>();
        foreach (var pod in DeployTree.Pods)
        {
            foreach (var container in pod.ProxyContainers)
            {
                data.Add(pod.Id, container.Str("name"));
            }
        }

        return data;
    }

    /// <summary>(pod id, container name) of every <c>sharpproxy iptables</c> init container.</summary>
    public static TheoryData<string, string> CaptureInitContainers()
    {
        var data = new TheoryData<string, string>();
        foreach (var pod in DeployTree.Pods)
        {
            foreach (var container in pod.CaptureInitContainers)
            {
                data.Add(pod.Id, container.Str("name"));
            }
        }

        return data;
    }

    public static YamlMappingNode Container(this PodUnderTest pod, string name) =>
        pod.InitContainers.Concat(pod.Containers).Single(c => c.Str("name") == name);

    /// <summary>The seconds of an <c>exec: [sleep, N]</c> preStop hook, 0 without one.</summary>
    public static int PreStopSleepSeconds(YamlMappingNode container)
    {
        var preStop = container.Find("lifecycle")?.Find("preStop");
        if (preStop is null)
        {
            return 0;
        }

        if (preStop.Find("sleep") is { } sleepAction)
        {
            return sleepAction.Int("seconds");
        }

        var command = preStop.Map("exec").Strings("command");
        Assert.True(command.Count == 2 && command[0] == "sleep", $"preStop is not `sleep N`: [{string.Join(' ', command)}]");
        return int.Parse(command[1], NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>The ConfigMap key and text behind a file path that <paramref name="container"/> reads.</summary>
    public static (Manifest ConfigMap, string Key, string Text) MountedConfigMapFile(this PodUnderTest pod, YamlMappingNode container, string path)
    {
        var mount = container.Maps("volumeMounts")
            .Where(m => path.StartsWith(m.Str("mountPath").TrimEnd('/') + "/", StringComparison.Ordinal))
            .OrderByDescending(m => m.Str("mountPath").Length)
            .FirstOrDefault() ?? throw new InvalidOperationException($"{pod}: {path} is not under any volumeMount of {container.Str("name")}");
        var key = path[(mount.Str("mountPath").TrimEnd('/').Length + 1)..];
        var volume = pod.Spec.Maps("volumes").Single(v => v.Str("name") == mount.Str("name"));
        var configMapName = volume.Map("configMap").Str("name");
        var configMap = DeployTree.Object(pod.Folder, "ConfigMap", configMapName);
        var text = configMap.Node.Map("data").StrOrNull(key) ?? throw new KeyNotFoundException($"{configMap} has no data key '{key}'");
        return (configMap, key, text);
    }

    public static YamlNode? SecurityContext(this YamlMappingNode container) => container.Find("securityContext");

    /// <summary>What the downward API gives the sample pod in these tests.</summary>
    public static readonly IReadOnlyDictionary<string, string> SampleFieldValues = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["metadata.name"] = "echo-6d5f8c7b9-x2k4q",
        ["metadata.namespace"] = "shop",
        ["status.podIP"] = "10.244.1.17",
        ["status.hostIP"] = "172.18.0.3",
        ["spec.serviceAccountName"] = "echo",
    };

    /// <summary>
    /// The container's args as the kubelet passes them: <c>$(VAR)</c> replaced by the container's env (literal values,
    /// and <see cref="SampleFieldValues"/> for downward-API fields), <c>$$</c> by <c>$</c>. A reference to a variable the
    /// container does not define stays as written, as in Kubernetes; callers assert none is left.
    /// </summary>
    public static List<string> ExpandedArgs(YamlMappingNode container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in container.Maps("env"))
        {
            var value = variable.StrOrNull("value") ?? SampleFieldValues[variable.Map("valueFrom").Map("fieldRef").Str("fieldPath")];
            env[variable.Str("name")] = value;
        }

        return container.Strings("args")
            .Select(arg => System.Text.RegularExpressions.Regex.Replace(arg, @"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", m =>
                m.Value == "$$" ? "$" : env.TryGetValue(m.Groups[1].Value, out var value) ? value : m.Value))
            .ToList();
    }
}
