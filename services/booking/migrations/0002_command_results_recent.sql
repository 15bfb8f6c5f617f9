-- The processor reloads the ids of recently decided commands when it takes a
-- partition over, to skip a command the broker holds twice (a retried send).
CREATE INDEX command_results_created_at_idx ON command_results (created_at);
