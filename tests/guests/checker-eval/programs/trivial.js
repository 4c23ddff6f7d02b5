function check(task, trajectory, initial, final) { return true; }
