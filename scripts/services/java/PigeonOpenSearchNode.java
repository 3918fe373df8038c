import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * One OpenSearch node for pigeon's tests (scripts/services/opensearch.sh), without a distribution: the server jar
 * and the modules' jars come from Maven Central and the modules are loaded as classpath plugins.
 * Arguments: home directory, HTTP port, transport port. Everything binds to 127.0.0.1.
 */
public class PigeonOpenSearchNode {
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        String home = args[0], httpPort = args[1], transportPort = args[2];
        Path config = Paths.get(home, "config");
        Files.createDirectories(config);
        Settings settings = Settings.builder()
            .put("path.home", home)
            .put("path.data", home + "/data")
            .put("path.logs", home + "/logs")
            .put("cluster.name", "pigeon-test")
            .put("node.name", "pigeon-1")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // a nearly full test disk must not flip indices to read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        LogConfigurator.registerErrorListener();
        LogConfigurator.configureWithoutConfig(settings);
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "pigeon-1");
        Collection<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : new String[] {
                "org.opensearch.transport.Netty4Plugin",
                "org.opensearch.analysis.common.CommonAnalysisPlugin",
                "org.opensearch.index.mapper.MapperExtrasPlugin",
                "org.opensearch.index.reindex.ReindexPlugin",
                "org.opensearch.painless.PainlessPlugin" }) {
            plugins.add(Class.forName(name).asSubclass(Plugin.class));
        }
        Node node = new ClasspathNode(env, plugins);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { node.close(); } catch (Exception e) { e.printStackTrace(); }
        }));
        node.start();
        System.out.println("PIGEON_SEARCH_NODE_STARTED http=127.0.0.1:" + httpPort);
        new CountDownLatch(1).await(); // the node's threads are daemons: stay alive until signalled
    }
}
