package pigeon;

import org.apache.catalina.Engine;
import org.apache.catalina.connector.Connector;
import org.springframework.boot.web.embedded.tomcat.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;

/**
 * S3Mock adds its plain-HTTP Tomcat connector without an address (all interfaces); only the HTTPS one honours
 * server.address. This binds every connector to one address (system property pigeon.bind.address, default
 * 127.0.0.1). Loaded through Spring Boot's PropertiesLauncher (scripts/services/s3.sh).
 */
public class LoopbackConnectors implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {
    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        String address = System.getProperty("pigeon.bind.address", "127.0.0.1");
        // context customizers run after every connector was added to the service, just before Tomcat starts
        factory.addContextCustomizers(context -> {
            for (Connector c : ((Engine) context.getParent().getParent()).getService().findConnectors()) {
                c.setProperty("address", address);
            }
        });
    }
}
