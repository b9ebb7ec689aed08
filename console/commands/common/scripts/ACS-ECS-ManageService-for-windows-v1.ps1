# ACS-ECS-ManageService-for-windows.ps1: start, stop, restart or show the status of a Windows service.
# Parameters: service (the service name, e.g. Spooler), action (start, stop, restart or status),
# dry_run (true: print the command and change nothing; status changes nothing either way).
$ErrorActionPreference = 'Stop'
$serviceName = '{{service}}'
$action = '{{action}}'
$dryRun = '{{dry_run}}' -eq 'true'

$service = Get-Service -Name $serviceName -ErrorAction SilentlyContinue
if (-not $service) {
    Write-Error "there is no service named '$serviceName' on this machine"
    exit 2
}
switch ($action) {
    'status' { $command = $null }
    'start' { $command = "Start-Service -Name '$serviceName'" }
    'stop' { $command = "Stop-Service -Name '$serviceName' -Force" }
    'restart' { $command = "Restart-Service -Name '$serviceName' -Force" }
    default { Write-Error "action must be start, stop, restart or status, not '$action'"; exit 2 }
}
if ($command) {
    if ($dryRun) {
        Write-Output "would run: $command"
        exit 0
    }
    Write-Output "running: $command"
    switch ($action) {
        'start' { Start-Service -Name $serviceName }
        'stop' { Stop-Service -Name $serviceName -Force }
        'restart' { Restart-Service -Name $serviceName -Force }
    }
    $service = Get-Service -Name $serviceName
}
Write-Output ("service {0} ({1}): {2}, start type {3}" -f $service.Name, $service.DisplayName, $service.Status, $service.StartType)
