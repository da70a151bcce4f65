DROP TABLE simulation_reports;
