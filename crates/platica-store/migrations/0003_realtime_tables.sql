-- Realtime clients also follow teams and system settings (e.g. app_version for force update).
ALTER PUBLICATION platica ADD TABLE teams, system_config;
