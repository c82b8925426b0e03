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
}
